import { execFileSync } from 'node:child_process';

/**
 * "Hosts" for partition tests: each a network namespace joined to this one by a veth pair, so a
 * process started in it (`ip netns exec`) reaches the mothership only over its own link, and
 * that link can be cut (`ip link set … down`) and healed like a cable. Needs root and a kernel
 * that allows network namespaces; `netnsUnavailable()` says why not when it cannot.
 */
export class NamespaceHost {
  private constructor(
    readonly namespace: string,
    /** This side of the veth pair (in the test's own namespace). */
    readonly hostInterface: string,
    /** The mothership's address as the namespace sees it. */
    readonly hostAddress: string,
  ) {}

  /** Namespace `n` of this test run: 10.X.n.0/30, this side .1, the namespace .2. */
  static create(run: string, n: number, subnet: number): NamespaceHost {
    const namespace = `borg${run}n${n}`;
    const hostInterface = `bp${run}h${n}`;
    const inner = `bp${run}i${n}`;
    const hostAddress = `10.${subnet}.${n}.1`;
    ip('netns', 'add', namespace);
    const host = new NamespaceHost(namespace, hostInterface, hostAddress);
    try {
      ip('link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', inner);
      ip('link', 'set', inner, 'netns', namespace);
      ip('addr', 'add', `${hostAddress}/30`, 'dev', hostInterface);
      ip('link', 'set', hostInterface, 'up');
      ip('-n', namespace, 'addr', 'add', `10.${subnet}.${n}.2/30`, 'dev', inner);
      ip('-n', namespace, 'link', 'set', inner, 'up');
      ip('-n', namespace, 'link', 'set', 'lo', 'up');
    } catch (error) {
      host.remove();
      throw error;
    }
    return host;
  }

  /** The command prefix that runs a program inside the namespace. */
  get exec(): string[] {
    return ['ip', 'netns', 'exec', this.namespace];
  }

  /** Pulls the cable: nothing passes either way, nothing is refused. */
  cut(): void {
    ip('link', 'set', this.hostInterface, 'down');
  }

  heal(): void {
    ip('link', 'set', this.hostInterface, 'up');
  }

  /** Deletes the namespace (and with it both ends of the pair); safe to call twice. */
  remove(): void {
    for (const args of [
      ['link', 'del', this.hostInterface],
      ['netns', 'del', this.namespace],
    ]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
  }
}

/** Why namespaced hosts cannot be made here (not root, no `ip`, namespaces refused), or undefined. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  const probe = `borgprobe${process.pid}`;
  try {
    ip('netns', 'add', probe);
  } catch (error) {
    return `ip netns add is not allowed here: ${(error as Error).message.split('\n')[0]}`;
  }
  try {
    ip('netns', 'del', probe);
  } catch {
    // nothing to clean
  }
  return undefined;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
