/**
 * The signals that end a process by default (Linux numbering), by name. A task killed by one is
 * reported with the name (exit code null); a shell reports a child killed by signal n as exit
 * code 128 + n instead, which is an exit code, not a signal.
 */
export const SIGNAL_NUMBERS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
} as const;

export type SignalName = keyof typeof SIGNAL_NUMBERS;
export const SIGNAL_NAMES = Object.keys(SIGNAL_NUMBERS) as SignalName[];

/** "KILL", "sigkill" or "SIGKILL" → "SIGKILL"; undefined for anything else. */
export function signalName(text: string): SignalName | undefined {
  const upper = text.trim().toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return name in SIGNAL_NUMBERS ? (name as SignalName) : undefined;
}
