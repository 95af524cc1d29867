// Kept hand-written: a 40-line spinner on stderr; a package (ora, nanospinner) would add a dependency and start-up time for no gain.
import type { Output } from './context.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

interface Progress {
  /** A step starts: on a terminal a spinner shows it until the next line. */
  begin(label: string): void;
  /** A step ended (or anything worth a line): printed as a plain line. */
  line(text: string): void;
  stop(): void;
}

/** Progress on stderr: a spinner on a terminal, plain lines otherwise (logs, CI, pipes). */
export function createProgress(stderr: Output, isTTY: boolean): Progress {
  let timer: NodeJS.Timeout | undefined;
  let label = '';
  let frame = 0;
  const clear = () => {
    if (timer) {
      clearInterval(timer);
      timer = undefined;
      stderr.write('\r\x1b[2K');
    }
  };
  return {
    begin(next) {
      if (!isTTY) return;
      clear();
      label = next;
      stderr.write(`${FRAMES[0]} ${label}`);
      timer = setInterval(() => {
        frame = (frame + 1) % FRAMES.length;
        stderr.write(`\r${FRAMES[frame]} ${label}`);
      }, 80);
      timer.unref();
    },
    line(text) {
      clear();
      stderr.write(`${text}\n`);
    },
    stop: clear,
  };
}
