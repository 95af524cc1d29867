import { describe, expect, it } from 'vitest';
import { drainOption } from '../../../src/app/drain-option.js';

describe('--drain (the main job and restart)', () => {
  it.each([
    [undefined, {}],
    ['0', { drainMs: 0 }],
    ['5', { drainMs: 5000 }],
    ['0.25', { drainMs: 250 }],
    ['3600', { drainMs: 3_600_000 }],
  ])('%s -> %j', (value, expected) => {
    expect(drainOption(value)).toEqual(expected);
  });

  it.each(['3601', '-1', '1e3', '0x10', ' 5', '', 'five'])('%j is refused naming --drain', (value) => {
    expect(() => drainOption(value)).toThrow(`--drain ${value}: seconds from 0 to 3600`);
  });
});
