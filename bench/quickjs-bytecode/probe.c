/* Weft measurement probe (bench/quickjs-bytecode.ts): what a module costs QuickJS from its source
 * against from bytecode compiled once. Built with Debian's emscripten over Debian's QuickJS source. */
#include <stdint.h>
#include <string.h>
#include <emscripten.h>
#include "quickjs.h"

EMSCRIPTEN_KEEPALIVE JSRuntime *p_rt(void) { return JS_NewRuntime(); }
EMSCRIPTEN_KEEPALIVE JSContext *p_ctx(JSRuntime *rt) { return JS_NewContext(rt); }
EMSCRIPTEN_KEEPALIVE void p_ctx_free(JSContext *ctx) { JS_FreeContext(ctx); }

static int drain(JSContext *ctx, JSValue v) {
  if (JS_IsException(v)) { JS_FreeValue(ctx, JS_GetException(ctx)); return -1; }
  JS_FreeValue(ctx, v);
  JSContext *c;
  while (JS_ExecutePendingJob(JS_GetRuntime(ctx), &c) > 0) {}
  return 0;
}

EMSCRIPTEN_KEEPALIVE int p_script(JSContext *ctx, const char *src, size_t len) {
  return drain(ctx, JS_Eval(ctx, src, len, "pre.js", JS_EVAL_TYPE_GLOBAL));
}

EMSCRIPTEN_KEEPALIVE int p_source(JSContext *ctx, const char *src, size_t len) {
  return drain(ctx, JS_Eval(ctx, src, len, "m.js", JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_STRICT));
}

static size_t out_len;
EMSCRIPTEN_KEEPALIVE size_t p_out_len(void) { return out_len; }
EMSCRIPTEN_KEEPALIVE uint8_t *p_compile(JSContext *ctx, const char *src, size_t len) {
  JSValue f = JS_Eval(ctx, src, len, "m.js", JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_STRICT | JS_EVAL_FLAG_COMPILE_ONLY);
  if (JS_IsException(f)) return 0;
  uint8_t *b = JS_WriteObject(ctx, &out_len, f, JS_WRITE_OBJ_BYTECODE);
  JS_FreeValue(ctx, f);
  return b;
}

EMSCRIPTEN_KEEPALIVE int p_bytecode(JSContext *ctx, const uint8_t *b, size_t len) {
  JSValue f = JS_ReadObject(ctx, b, len, JS_READ_OBJ_BYTECODE);
  if (JS_IsException(f)) { JS_FreeValue(ctx, JS_GetException(ctx)); return -2; }
  if (JS_ResolveModule(ctx, f) < 0) { JS_FreeValue(ctx, f); return -3; }
  return drain(ctx, JS_EvalFunction(ctx, f));
}
