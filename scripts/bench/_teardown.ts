/**
 * Cleaning up after a benchmark, also when it is interrupted. A benchmark
 * starts daemons (condor_tokend, HTCondor's condor_master and the collector
 * it starts in a process group of its own), tool processes and temporary
 * directories; none of them may outlive it. Each is registered with a
 * {@link Teardown} as it is made; `run()` undoes them in reverse order, once,
 * either at the end of the benchmark or when SIGINT, SIGTERM or SIGHUP
 * arrives ({@link exitOnSignals}), after which the process exits with 128 +
 * the signal's number, as a shell reports a process killed by it.
 *
 * Why a signal handler is needed: Deno's default action for SIGINT and
 * SIGTERM ends the process without running `finally` blocks, and neither
 * reaches HTCondor's daemons (condor_master and the collector it starts
 * each run in a process group of their own, so Ctrl-C at the terminal
 * does not reach them either): without a handler they run on, orphaned,
 * with the benchmark's temporary directory left behind.
 */

/** One registered clean-up step. */
interface Step {
  name: string;
  fn: () => Promise<void> | void;
}

/** Exit codes a shell reports for a process ended by these signals. */
const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** How long a tracked child gets to exit after SIGTERM before SIGKILL. */
const CHILD_GRACE_MS = 5_000;

/** Clean-up steps run in reverse order of registration, once. */
export class Teardown {
  #steps: Step[] = [];
  #running: Promise<void> | undefined;
  #children = new Set<Deno.ChildProcess>();
  /** Set once teardown has begun: nothing new should start. */
  readonly stopping: AbortController = new AbortController();

  /** Registers `fn` to run at teardown; returns a function that unregisters it. */
  add(name: string, fn: () => Promise<void> | void): () => void {
    const step = { name, fn };
    this.#steps.push(step);
    return () => {
      this.#steps = this.#steps.filter((s) => s !== step);
    };
  }

  /** Registers a temporary directory to be removed. Needs --allow-write. */
  dir(path: string): string {
    this.add(`remove ${path}`, async () => {
      try {
        await Deno.remove(path, { recursive: true });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    });
    return path;
  }

  /**
   * Tracks a child process: at teardown, one still running gets SIGTERM
   * (our requesters withdraw their request on it), then SIGKILL after a
   * grace period. Returns the child.
   */
  child(child: Deno.ChildProcess): Deno.ChildProcess {
    this.#children.add(child);
    child.status.finally(() => this.#children.delete(child));
    if (this.stopping.signal.aborted) kill(child, "SIGTERM");
    return child;
  }

  /** Runs every step (children first, then the rest in reverse order); later calls wait for the first. */
  run(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  async #run(): Promise<void> {
    this.stopping.abort();
    await stopChildren([...this.#children]);
    for (const step of this.#steps.reverse()) {
      try {
        await step.fn();
      } catch (err) {
        console.error(`teardown: cannot ${step.name}: ${err}`);
      }
    }
    this.#steps = [];
  }
}

/** SIGTERM to each child, then SIGKILL to those still running after the grace period. */
async function stopChildren(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) kill(child, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise((resolve) => timer = setTimeout(resolve, CHILD_GRACE_MS));
  await Promise.race([Promise.allSettled(children.map((c) => c.status)), grace]);
  clearTimeout(timer);
  for (const child of children) kill(child, "SIGKILL");
  await Promise.allSettled(children.map((c) => c.status));
}

/** Sends `signal` to a child that may have exited already. */
function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch (err) {
    // Deno throws TypeError for a child that has already exited.
    if (!(err instanceof TypeError)) throw err;
  }
}

/**
 * On SIGINT, SIGTERM or SIGHUP: says so on stderr, runs `teardown`, and
 * exits with 128 + the signal's number. A second signal while tearing down
 * is ignored (the teardown itself is bounded). Returns a function that
 * removes the handlers. Needs nothing beyond what the benchmark already has.
 */
export function exitOnSignals(teardown: Teardown, label: string): () => void {
  const handlers: [Deno.Signal, () => void][] = [];
  for (const [signal, code] of Object.entries(SIGNAL_EXIT)) {
    const handler = () => {
      if (teardown.stopping.signal.aborted) return;
      console.error(`${label}: ${signal}: stopping daemons and cleaning up`);
      teardown.run().finally(() => Deno.exit(code));
    };
    Deno.addSignalListener(signal as Deno.Signal, handler);
    handlers.push([signal as Deno.Signal, handler]);
  }
  return () => {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  };
}
