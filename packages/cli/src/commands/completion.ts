import { type Command, Command as CommandClass } from 'commander';

import { usageError } from '../cli-error.ts';
import { examples } from '../command-context.ts';

/**
 * `borg completion bash|zsh|fish`: a script generated from the command tree itself, so it
 * never falls behind the commands. It is static (subcommands, flags, flag choices): asking the
 * mothership for job ids on every Tab would cost a network round trip and a Node start.
 */
export function completionCommand(): Command {
  return new CommandClass('completion')
    .description('Print a shell completion script (bash, zsh or fish)')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      examples([
        'source <(borg completion bash)                       in ~/.bashrc',
        'borg completion zsh > "${fpath[1]}/_borg"           then restart zsh',
        'borg completion fish > ~/.config/fish/completions/borg.fish',
      ]),
    )
    .action((shell: string, _flags: unknown, command: Command) => {
      const tree = commandTree(command.parent!);
      const scripts: Record<string, (t: TreeNode[]) => string> = { bash, zsh, fish };
      const script = scripts[shell];
      if (!script) throw usageError(`no completion for "${shell}"`, 'use bash, zsh or fish');
      process.stdout.write(script(tree));
    });
}

interface TreeNode {
  /** Subcommand names from the root, space-separated; '' for `borg` itself. */
  path: string;
  words: string[];
  /** Flags that take one of a few values, and those values. */
  choices: Array<{ flags: string[]; values: string[] }>;
}

function commandTree(root: Command): TreeNode[] {
  const nodes: TreeNode[] = [];
  const visit = (command: Command, path: string) => {
    const options = command.options.filter((o) => !o.hidden);
    nodes.push({
      path,
      words: [
        ...command.commands.flatMap((c) => [c.name(), ...c.aliases()]),
        ...options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f))),
        '--help',
      ],
      choices: options
        .filter((o) => o.argChoices?.length || o.long === '--output')
        .map((o) => ({
          flags: [o.long, o.short].filter((f): f is string => Boolean(f)),
          values: o.long === '--output' ? ['table', 'json'] : o.argChoices!,
        })),
    });
    for (const sub of command.commands) {
      for (const name of [sub.name(), ...sub.aliases()]) visit(sub, path ? `${path} ${name}` : name);
    }
  };
  visit(root, '');
  return nodes;
}

/** A `case` over command paths printing their words; exits 1 for a path that is not a command. */
function caseOfWords(tree: TreeNode[], indent: string, pattern: (path: string) => string): string {
  return tree.map((n) => `${indent}${pattern(n.path)} echo '${n.words.join(' ')}' ;;`).join('\n');
}

function caseOfChoices(tree: TreeNode[], indent: string): string {
  const lines: string[] = [];
  for (const node of tree) {
    for (const choice of node.choices) {
      for (const flag of choice.flags)
        lines.push(`${indent}'${node.path}|${flag}') echo '${choice.values.join(' ')}' ;;`);
    }
  }
  return lines.join('\n');
}

function bash(tree: TreeNode[]): string {
  return `# borg completion for bash. Load it with: source <(borg completion bash)
_borg_words() {
  case "$1" in
${caseOfWords(tree, '    ', (p) => `'${p}')`)}
    *) return 1 ;;
  esac
}
_borg_choices() {
  case "$1" in
${caseOfChoices(tree, '    ')}
    *) return 1 ;;
  esac
}
_borg() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmdpath="" w next i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == "--" ]] && return 0 # the job's own command: file names
    next="\${cmdpath:+$cmdpath }$w"
    _borg_words "$next" >/dev/null && cmdpath="$next"
  done
  local values
  if values=$(_borg_choices "$cmdpath|$prev"); then
    COMPREPLY=($(compgen -W "$values" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_borg_words "$cmdpath")" -- "$cur"))
  fi
}
complete -o default -F _borg borg
`;
}

function zsh(tree: TreeNode[]): string {
  // \`path\` is zsh's own array (tied to PATH): hence cmdpath.
  return `#compdef borg
# borg completion for zsh. Install it with: borg completion zsh > "\${fpath[1]}/_borg"
_borg_words() {
  case "$1" in
${caseOfWords(tree, '    ', (p) => `'${p}')`)}
    *) return 1 ;;
  esac
}
_borg_choices() {
  case "$1" in
${caseOfChoices(tree, '    ')}
    *) return 1 ;;
  esac
}
_borg() {
  local cmdpath="" w next i values
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    if [[ "$w" == "--" ]]; then _files; return; fi
    next="\${cmdpath:+$cmdpath }$w"
    _borg_words "$next" >/dev/null && cmdpath="$next"
  done
  if values=$(_borg_choices "$cmdpath|\${words[CURRENT-1]}"); then
    compadd -- \${=values}
  else
    compadd -- \${=$(_borg_words "$cmdpath")}
    _files
  fi
}
if [[ "$funcstack[1]" == "_borg" ]]; then _borg "$@"; else compdef _borg borg; fi
`;
}

function fish(tree: TreeNode[]): string {
  const words = tree.map((n) => `        case '${n.path}'\n            echo '${n.words.join(' ')}'`).join('\n');
  const choices = tree
    .flatMap((n) =>
      n.choices.flatMap((c) =>
        c.flags.map((f) => `        case '${n.path}|${f}'\n            echo '${c.values.join(' ')}'`),
      ),
    )
    .join('\n');
  return `# borg completion for fish. Install it with: borg completion fish > ~/.config/fish/completions/borg.fish
function __borg_words
    switch $argv[1]
${words}
        case '*'
            return 1
    end
end
function __borg_choices
    switch $argv[1]
${choices}
        case '*'
            return 1
    end
end
function __borg_complete
    set -l tokens (commandline -opc)
    set -l cmdpath ''
    for w in $tokens[2..-1]
        test "$w" = '--'; and return
        set -l next (string trim -- "$cmdpath $w")
        __borg_words "$next" >/dev/null; and set cmdpath $next
    end
    set -l values (__borg_choices "$cmdpath|$tokens[-1]")
    and string split ' ' -- $values
    and return
    __borg_words "$cmdpath" | string split ' '
end
complete -c borg -a '(__borg_complete)'
`;
}
