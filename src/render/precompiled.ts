/**
 * Templates precompiled at build time. In the source tree this is empty and templates/*.hbs are
 * compiled when first used; scripts/build.mjs replaces this module in the bundle with the
 * precompiled specs, so the CLI loads only Handlebars' small runtime, not its compiler.
 */
export const PRECOMPILED: Readonly<Record<string, unknown>> | undefined = undefined;
