import { LABEL_KEY_PATTERN } from './schemas/common.ts';

/**
 * Constraint expressions a job may place on the runners that take it, beside exact labels:
 * `gpu_model in (A100, H100)`, `os != windows`, `memory_gb >= 64`, `zone exists`,
 * `hostname !~ ^old-`. They are parsed once, at submit, into the structured form below; the claim
 * evaluates that form in the database (borg_constraints_unmet), the placement explanation reads
 * the same answer.
 */
export const CONSTRAINT_OPERATORS = [
  '==',
  '!=',
  'in',
  'not in',
  '<',
  '<=',
  '>',
  '>=',
  '~',
  '!~',
  'exists',
  '!exists',
] as const;
export type ConstraintOperator = (typeof CONSTRAINT_OPERATORS)[number];

export interface ParsedConstraint {
  key: string;
  op: ConstraintOperator;
  /** One value for a comparison, the list for in / not in, none for exists / !exists. */
  values: string[];
}

export const MAX_CONSTRAINTS = 32;
const MAX_VALUE_LENGTH = 253;
const MAX_LIST_LENGTH = 64;

/** The operators that compare numbers: a value that is no number is refused at submit. */
export const NUMERIC_OPERATORS: ReadonlySet<ConstraintOperator> = new Set(['<', '<=', '>', '>=']);

// Longest operators first, so `<=` is not read as `<` followed by `=…`.
const COMPARISON = /^(\S+?)\s*(==|!=|<=|>=|!~|<|>|~)\s*(.*)$/s;
const LIST = /^(\S+)\s+(not\s+in|in)\s*\((.*)\)$/is;
const EXISTENCE = /^(\S+)\s+(!exists|exists)$/i;

/** Parses one expression; the error says what is wrong with it in the words a user typed. */
export function parseConstraint(text: string): { ok: true; value: ParsedConstraint } | { ok: false; error: string } {
  const source = text.trim();
  const fail = (why: string) => ({ ok: false as const, error: `constraint ${JSON.stringify(text)}: ${why}` });
  if (source === '') return fail('is empty');

  let key: string;
  let op: ConstraintOperator;
  let values: string[];
  const existence = EXISTENCE.exec(source);
  const list = existence ? null : LIST.exec(source);
  const comparison = existence || list ? null : COMPARISON.exec(source);
  if (existence) {
    key = existence[1]!;
    op = existence[2]!.toLowerCase() as ConstraintOperator;
    values = [];
  } else if (list) {
    key = list[1]!;
    op = /^not/i.test(list[2]!) ? 'not in' : 'in';
    values = list[3]!.split(',').map((value) => value.trim());
    if (values.some((value) => value === '')) return fail('a list holds an empty value');
    if (values.length > MAX_LIST_LENGTH) return fail(`a list holds at most ${MAX_LIST_LENGTH} values`);
  } else if (comparison) {
    key = comparison[1]!;
    op = comparison[2] as ConstraintOperator;
    values = [comparison[3]!.trim()];
    if (values[0] === '') return fail(`"${op}" needs a value after it`);
  } else {
    return fail(`expected "key OP value" with OP one of ${CONSTRAINT_OPERATORS.join(', ')}`);
  }

  if (!LABEL_KEY_PATTERN.test(key)) return fail(`"${key}" is not a label key (letters, digits, "_", ".", "-", "/")`);
  if (values.some((value) => value.length > MAX_VALUE_LENGTH))
    return fail(`values are at most ${MAX_VALUE_LENGTH} characters`);
  if (NUMERIC_OPERATORS.has(op) && !isNumber(values[0]!))
    return fail(`"${op}" compares numbers; "${values[0]}" is not one`);
  if (op === '~' || op === '!~') {
    try {
      new RegExp(values[0]!);
    } catch {
      return fail(`"${values[0]}" is not a regular expression`);
    }
  }
  return { ok: true, value: { key, op, values } };
}

/** The way a parsed constraint is written back (in explanations and in the job's view). */
export function formatConstraint(constraint: ParsedConstraint): string {
  if (constraint.op === 'exists' || constraint.op === '!exists') return `${constraint.key} ${constraint.op}`;
  if (constraint.op === 'in' || constraint.op === 'not in') {
    return `${constraint.key} ${constraint.op} (${constraint.values.join(', ')})`;
  }
  return `${constraint.key} ${constraint.op} ${constraint.values[0]}`;
}

/** Decimal numbers as labels write them: 64, 1.5, -3. No exponents, no hex: the database compares the same way. */
export function isNumber(value: string): boolean {
  return /^-?\d{1,15}(\.\d{1,15})?$/.test(value);
}
