;; reject: refuses every request with 403 and lets responses through (world `smg`; the ABI is
;; described in pass_through.wat).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32)
        (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
               (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (global.get $heap)
                               (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $grow)))
    (local.get $ptr))

  ;; on-request -> reject(403)
  (func (export "smg:gateway/middleware-on-request#on-request")
        (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64) (result i32)
    (i32.store8 (i32.const 16) (i32.const 1))     ;; case 1: reject
    (i32.store16 (i32.const 20) (i32.const 403))  ;; its status, at action+4
    (i32.const 16))

  ;; on-response -> continue
  (func (export "smg:gateway/middleware-on-response#on-response")
        (param i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.const 16))
)
