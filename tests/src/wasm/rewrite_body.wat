;; rewrite_body: an OnResponse module that replaces the response body (world `smg`; the ABI
;; is described in pass_through.wat).
;; - on-request  -> continue
;; - on-response -> modify { headers-set: [content-type: application/json],
;;                           body-replace: {"rewritten":true} }
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 256) "content-type")        ;; 12 bytes
  (data (i32.const 272) "application/json")    ;; 16 bytes
  (data (i32.const 320) "{\"rewritten\":true}") ;; 18 bytes

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

  (func (export "smg:gateway/middleware-on-request#on-request")
        (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))   ;; continue
    (i32.const 16))

  (func (export "smg:gateway/middleware-on-response#on-response")
        (param i32 i32 i32 i32 i32) (result i32)
    ;; header record at 512: content-type: application/json
    (i32.store (i32.const 512) (i32.const 256))
    (i32.store (i32.const 516) (i32.const 12))
    (i32.store (i32.const 520) (i32.const 272))
    (i32.store (i32.const 524) (i32.const 16))
    (memory.fill (i32.const 16) (i32.const 0) (i32.const 44))
    (i32.store8 (i32.const 16) (i32.const 2))    ;; case 2: modify
    (i32.store (i32.const 24) (i32.const 512))   ;; headers-set ptr (action+8)
    (i32.store (i32.const 28) (i32.const 1))     ;; headers-set len
    (i32.store8 (i32.const 48) (i32.const 1))    ;; body-replace is-some (action+32)
    (i32.store (i32.const 52) (i32.const 320))   ;; body ptr (action+36)
    (i32.store (i32.const 56) (i32.const 18))    ;; body len (action+40)
    (i32.const 16))
)
