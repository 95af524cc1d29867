import { inspect } from 'node:util';

/**
 * A password held so that printing, logging or JSON-encoding it shows a mask, never the value.
 * Only reveal() gives the plain text, and only code that hashes or sends it should call that.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '********';
  }
  toJSON(): string {
    return '********';
  }
  [inspect.custom](): string {
    return 'Secret(********)';
  }
}
