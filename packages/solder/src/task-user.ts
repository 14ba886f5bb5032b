import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Who a task's processes run as. */
export interface TaskUser {
  uid: number;
  gid: number;
  /** A name for USER/LOGNAME and logs (a bare uid in a --task-uids range has none of its own). */
  name: string;
  /** True when the task runs as another user than the solder: spawn with uid/gid, chown its files. */
  switches: boolean;
}

export interface TaskUsersSettings {
  /** --run-as */
  runAs?: string;
  /** --task-uids */
  taskUids?: { first: number; last: number };
  maxConcurrentTasks: number;
}

/**
 * Hands a user to every task and takes it back when the task is over.
 *
 * - A solder that is not root runs its tasks as itself (it cannot do otherwise).
 * - A root solder runs them as `--run-as` (default `borg-task` when that user exists, else
 *   `nobody`), never as root unless told `--run-as root`.
 * - With `--task-uids FIRST-LAST` a root solder gives every running task a uid of its own from
 *   that block (group: the --run-as user's), so two tasks running at once are different users
 *   and cannot reach each other's processes (/proc/<pid>/cwd, environ, signals) or workspaces.
 *   A uid goes back to the block only after every process left running as it has been killed.
 */
export class TaskUsers {
  private readonly free: number[];

  private constructor(
    readonly base: TaskUser,
    private readonly block: { first: number; last: number } | undefined,
  ) {
    this.free = [];
    if (block) for (let uid = block.last; uid >= block.first; uid--) this.free.push(uid);
  }

  /** True when concurrently running tasks each get a uid of their own. */
  get isolatesTasks(): boolean {
    return this.block !== undefined;
  }

  static async resolve(settings: TaskUsersSettings): Promise<TaskUsers> {
    const me = userInfo();
    if (me.uid !== 0) {
      if (settings.runAs !== undefined && settings.runAs !== me.username && settings.runAs !== String(me.uid)) {
        throw new Error(
          `--run-as ${settings.runAs}: only a solder running as root can run tasks as another user (this one runs as ${me.username})`,
        );
      }
      if (settings.taskUids) throw new Error('--task-uids: only a solder running as root can run tasks as other users');
      return new TaskUsers({ uid: me.uid, gid: me.gid, name: me.username, switches: false }, undefined);
    }

    const name = settings.runAs ?? ((await lookupUser('borg-task')) ? 'borg-task' : 'nobody');
    const entry = await lookupUser(name);
    if (!entry) throw new Error(`--run-as ${name}: no such user on this machine`);
    const base: TaskUser = { uid: entry.uid, gid: entry.gid, name: entry.name, switches: entry.uid !== 0 };
    if (!settings.taskUids) return new TaskUsers(base, undefined);

    const { first, last } = settings.taskUids;
    if (last - first + 1 < settings.maxConcurrentTasks) {
      throw new Error(
        `--task-uids ${first}-${last}: ${last - first + 1} uid(s) for ${settings.maxConcurrentTasks} concurrent tasks; give at least one per task`,
      );
    }
    const taken = await uidsInUse(first, last);
    if (taken.length > 0) {
      throw new Error(
        `--task-uids ${first}-${last}: ${taken.slice(0, 5).join(', ')} already belong to an account or a subordinate id range; pick uids nothing else uses`,
      );
    }
    return new TaskUsers(base, { first, last });
  }

  /** The user for a task that is about to start. */
  acquire(): TaskUser {
    if (!this.block) return this.base;
    const uid = this.free.pop();
    // TaskSlots never runs more tasks than --max-concurrent-tasks, and the block holds at least that many.
    if (uid === undefined) throw new Error('no free uid left in --task-uids');
    return { uid, gid: this.base.gid, name: `borg-task-${uid}`, switches: true };
  }

  /**
   * Kills whatever still runs as this task's uid (a process that left the task's process group),
   * so nothing of it survives into collection of its artifacts or into the next task given the
   * same uid. Only for uids of the block: the shared --run-as user may be running other tasks.
   */
  async killLeftovers(user: TaskUser): Promise<void> {
    if (!this.block || user.uid < this.block.first || user.uid > this.block.last) return;
    // kill(-1) signals every process the caller may signal except itself: all of this uid's.
    await execFileAsync('/bin/sh', ['-c', 'kill -9 -1 2>/dev/null; exit 0'], {
      uid: user.uid,
      gid: user.gid,
      env: { PATH: '/usr/bin:/bin' },
      timeout: 10_000,
    }).catch(() => undefined);
  }

  /** Gives a task's user back once the task is over (its processes are gone). */
  async release(user: TaskUser): Promise<void> {
    if (!this.block || user.uid < this.block.first || user.uid > this.block.last) return;
    await this.killLeftovers(user);
    this.free.push(user.uid);
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** A user by name or number, through NSS (getent), falling back to /etc/passwd. */
export async function lookupUser(nameOrUid: string): Promise<PasswdEntry | null> {
  const line = await execFileAsync('getent', ['passwd', nameOrUid])
    .then(({ stdout }) => stdout.split('\n')[0] ?? '')
    .catch(async () => {
      const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
      return (
        passwd.split('\n').find((l) => {
          const [name, , uid] = l.split(':');
          return name === nameOrUid || uid === nameOrUid;
        }) ?? ''
      );
    });
  const [name, , uid, gid] = line.split(':');
  if (!name || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) return null;
  return { name, uid: Number(uid), gid: Number(gid) };
}

/** Uids of [first, last] that an account or a subordinate id range (/etc/subuid) already uses. */
async function uidsInUse(first: number, last: number): Promise<number[]> {
  const taken: number[] = [];
  const passwd = await execFileAsync('getent', ['passwd'], { maxBuffer: 64 * 1024 * 1024 })
    .then(({ stdout }) => stdout)
    .catch(() => readFile('/etc/passwd', 'utf8').catch(() => ''));
  for (const line of passwd.split('\n')) {
    const uid = Number(line.split(':')[2]);
    if (line && uid >= first && uid <= last) taken.push(uid);
  }
  const subuid = await readFile('/etc/subuid', 'utf8').catch(() => '');
  for (const line of subuid.split('\n')) {
    const [, start, count] = line.split(':').map(Number);
    if (start === undefined || count === undefined || Number.isNaN(start) || Number.isNaN(count)) continue;
    if (start <= last && start + count - 1 >= first) taken.push(Math.max(start, first));
  }
  return taken;
}
