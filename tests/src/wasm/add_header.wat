;; add_header: rewrites headers in both directions (world `smg`; the ABI is described in
;; pass_through.wat).
;; - on-request  -> modify { headers-add: [x-wasm-audit: seen], headers-remove: [x-remove-me] }
;; - on-response -> modify { headers-set: [x-wasm-module: add-header] }
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  ;; The strings, at fixed addresses.
  (data (i32.const 256) "x-wasm-audit")    ;; 12 bytes
  (data (i32.const 272) "seen")            ;; 4 bytes
  (data (i32.const 288) "x-remove-me")     ;; 11 bytes
  (data (i32.const 304) "x-wasm-module")   ;; 13 bytes
  (data (i32.const 320) "add-header")      ;; 10 bytes

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

  ;; Zero the 44-byte action at 16: every list empty, every option none.
  (func $clear_action
    (memory.fill (i32.const 16) (i32.const 0) (i32.const 44)))

  (func (export "smg:gateway/middleware-on-request#on-request")
        (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64) (result i32)
    ;; header record at 512: x-wasm-audit: seen
    (i32.store (i32.const 512) (i32.const 256))
    (i32.store (i32.const 516) (i32.const 12))
    (i32.store (i32.const 520) (i32.const 272))
    (i32.store (i32.const 524) (i32.const 4))
    ;; string list element at 544: x-remove-me
    (i32.store (i32.const 544) (i32.const 288))
    (i32.store (i32.const 548) (i32.const 11))
    (call $clear_action)
    (i32.store8 (i32.const 16) (i32.const 2))    ;; case 2: modify
    (i32.store (i32.const 32) (i32.const 512))   ;; headers-add ptr (action+16)
    (i32.store (i32.const 36) (i32.const 1))     ;; headers-add len
    (i32.store (i32.const 40) (i32.const 544))   ;; headers-remove ptr (action+24)
    (i32.store (i32.const 44) (i32.const 1))     ;; headers-remove len
    (i32.const 16))

  (func (export "smg:gateway/middleware-on-response#on-response")
        (param i32 i32 i32 i32 i32) (result i32)
    ;; header record at 576: x-wasm-module: add-header
    (i32.store (i32.const 576) (i32.const 304))
    (i32.store (i32.const 580) (i32.const 13))
    (i32.store (i32.const 584) (i32.const 320))
    (i32.store (i32.const 588) (i32.const 10))
    (call $clear_action)
    (i32.store8 (i32.const 16) (i32.const 2))    ;; case 2: modify
    (i32.store (i32.const 24) (i32.const 576))   ;; headers-set ptr (action+8)
    (i32.store (i32.const 28) (i32.const 1))     ;; headers-set len
    (i32.const 16))
)
