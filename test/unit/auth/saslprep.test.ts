import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWellFormedUnicode, saslprep } from '../../../src/auth/saslprep.js';

describe('saslprep (PostgreSQL pg_saslprep rules)', () => {
  it.each([
    ['pure ASCII is returned unchanged', 'Tr0ub4dor&3', 'Tr0ub4dor&3'],
    ['ASCII control characters are not checked', 'a\u0001b\u007f', 'a\u0001b\u007f'],
    ['C.1.2 no-break space maps to space', 'pa\u00a0ss', 'pa ss'],
    ['C.1.2 ideographic space maps to space', 'a\u3000b', 'a b'],
    ['U+200B is in C.1.2 and B.1; PostgreSQL maps it to space', 'x\u200by', 'x y'],
    ['B.1 soft hyphen is removed', 'pa\u00adss', 'pass'],
    ['B.1 BOM is removed', '\ufeffabc', 'abc'],
    ['NFKC: ligature', '\ufb01x', 'fix'],
    ['NFKC: fullwidth', '\uff21\uff22', 'AB'],
    ['NFKC: composes', 'A\u030a', '\u00c5'],
    ['NFKC: roman numeral', 'I\u2168', 'IIX'],
    ['NFKC: trade mark', '\u2122', 'TM'],
    // The bidi check runs on the mapped input, before NFKC: U+2122 is not LCat, so this passes
    // although its NFKC form "TM" is LCat (an RFC-literal implementation would fail it).
    ['bidi is checked before NFKC', '\u0627\u2122\u0627', '\u0627TM\u0627'],
    ['R-only text passes', '\u05d0\u05d1', '\u05d0\u05d1'],
  ])('%s', (_what, input, output) => {
    expect(saslprep(input)).toEqual({ ok: true, value: output });
  });

  it.each([
    ['only mapped-to-nothing characters (empty result)', '\u00ad\u200c', 'empty'],
    ['C.2.2 non-ASCII control (NEL)', 'a\u0085b', 'prohibited'],
    ['C.3 private use', 'p\ue000', 'prohibited'],
    ['C.4 non-character', 'a\ufdd0', 'prohibited'],
    ['C.8 U+0340, checked before NFKC maps it to U+0300', 'ab\u0340', 'prohibited'],
    ['C.9 tag character', 'a\u{e0001}', 'prohibited'],
    ['A.1 unassigned in Unicode 3.2 (emoji)', 'pw\u{1f600}', 'unassigned'],
    ['bidi: R/AL mixed with L', '\u0627a\u0627', 'bidi'],
    ['bidi: R/AL not last', '\u06271', 'bidi'],
    ['bidi: R/AL not first', '1\u0627', 'bidi'],
    ['unpaired surrogate', 'a\ud800', 'not-well-formed'],
  ])('fails for %s', (_what, input, reason) => {
    expect(saslprep(input)).toEqual({ ok: false, reason });
  });

  it('a supplementary-plane CJK character assigned in Unicode 3.2 passes', () => {
    expect(saslprep('\u{20000}x')).toEqual({ ok: true, value: '\u{20000}x' });
  });

  it('property: pure ASCII is always the identity', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii' }), (s) => {
        expect(saslprep(s)).toEqual({ ok: true, value: s });
      }),
    );
  });

  it('property: a successful result is NFKC and idempotent under saslprep', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const r = saslprep(s);
        if (r.ok) {
          expect(r.value).toBe(r.value.normalize('NFKC'));
          const again = saslprep(r.value);
          if (again.ok) expect(again.value).toBe(r.value);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('isWellFormedUnicode', () => {
  it.each([
    ['abc', true],
    ['\u{1f600}', true],
    ['\ud83d', false],
    ['\ude00', false],
    ['\ude00\ud83d', false],
    ['a\ud83d\ude00b', true],
  ])('%j -> %s', (s, ok) => {
    expect(isWellFormedUnicode(s)).toBe(ok);
  });
});
