;; rewrite_request: an OnRequest module that replaces the request body and sets a header
;; (world `smg`; the ABI is described in pass_through.wat). A `modify` on a request may not
;; change a status; this one sets status 299 to show that the gateway ignores it.
;; - on-request  -> modify { status: 299, headers-set: [x-rewritten: yes],
;;                           body-replace: {"rewritten":"request"} }
;; - on-response -> continue
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 256) "x-rewritten")              ;; 11 bytes
  (data (i32.const 272) "yes")                      ;; 3 bytes
  (data (i32.const 320) "{\"rewritten\":\"request\"}") ;; 23 bytes

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
    ;; header record at 512: x-rewritten: yes
    (i32.store (i32.const 512) (i32.const 256))
    (i32.store (i32.const 516) (i32.const 11))
    (i32.store (i32.const 520) (i32.const 272))
    (i32.store (i32.const 524) (i32.const 3))
    (memory.fill (i32.const 16) (i32.const 0) (i32.const 44))
    (i32.store8 (i32.const 16) (i32.const 2))     ;; case 2: modify
    (i32.store8 (i32.const 20) (i32.const 1))     ;; status is-some (action+4)
    (i32.store16 (i32.const 22) (i32.const 299))  ;; status (ignored on requests)
    (i32.store (i32.const 24) (i32.const 512))    ;; headers-set ptr (action+8)
    (i32.store (i32.const 28) (i32.const 1))      ;; headers-set len
    (i32.store8 (i32.const 48) (i32.const 1))     ;; body-replace is-some (action+32)
    (i32.store (i32.const 52) (i32.const 320))    ;; body ptr
    (i32.store (i32.const 56) (i32.const 23))     ;; body len
    (i32.const 16))

  (func (export "smg:gateway/middleware-on-response#on-response")
        (param i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.const 16))
)
