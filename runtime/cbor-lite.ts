// A small, strict CBOR codec for the subset Weft encodes (docs/DECISIONS.md "D34 The box speaks
// CBOR with its own small codec"). Byte-identical to cbor-x under Weft's encoder options
// (test/runtime/cbor-lite.test.ts checks it at random), strictly bounded on decode. The firmware
// build (build.mjs) resolves `cbor-x` to this module, so the box does not carry cbor-x's 29.8 KB (firmware 253.8 -> 231.6 KB);
// the head-end keeps cbor-x. Same class names and calls as the cbor-x subset Weft uses.

export { Encoder, MAX_ENCODE_DEPTH } from './cbor-lite-encode.ts';
export { Decoder, MAX_DECODE_DEPTH } from './cbor-lite-decode.ts';
