;; on_error: this gateway's OnError attach point. It exports only `middleware-on-error` (the
;; fixture world `on-error-only`), so it shows that a module needs only the exports of its
;; attach points. It replaces a failed upstream's error response:
;; - on-error -> modify { status: 503,
;;                        headers-set: [content-type: application/json, x-wasm-on-error: handled,
;;                                      x-smg-error-code: UPSTREAM_UNAVAILABLE],
;;                        body-replace: a D1 error body with the same code }
;; `error-info` flattens to 18 values, more than the canonical ABI's 16, so `on-error` gets a
;; single pointer to it (which this module does not need to read). The action layout is
;; described in pass_through.wat.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 256) "content-type")       ;; 12 bytes
  (data (i32.const 272) "application/json")   ;; 16 bytes
  (data (i32.const 288) "x-wasm-on-error")    ;; 15 bytes
  (data (i32.const 304) "handled")            ;; 7 bytes
  (data (i32.const 320) "x-smg-error-code")   ;; 16 bytes
  (data (i32.const 336) "UPSTREAM_UNAVAILABLE") ;; 20 bytes
  ;; 129 bytes
  (data (i32.const 1024) "{\"error\":{\"message\":\"The model is briefly unavailable, please retry\",\"type\":\"service_unavailable\",\"code\":\"UPSTREAM_UNAVAILABLE\"}}")

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

  (func (export "smg:gateway/middleware-on-error#on-error") (param $info i32) (result i32)
    ;; three header records at 512
    (i32.store (i32.const 512) (i32.const 256))
    (i32.store (i32.const 516) (i32.const 12))
    (i32.store (i32.const 520) (i32.const 272))
    (i32.store (i32.const 524) (i32.const 16))
    (i32.store (i32.const 528) (i32.const 288))
    (i32.store (i32.const 532) (i32.const 15))
    (i32.store (i32.const 536) (i32.const 304))
    (i32.store (i32.const 540) (i32.const 7))
    (i32.store (i32.const 544) (i32.const 320))
    (i32.store (i32.const 548) (i32.const 16))
    (i32.store (i32.const 552) (i32.const 336))
    (i32.store (i32.const 556) (i32.const 20))
    (memory.fill (i32.const 16) (i32.const 0) (i32.const 44))
    (i32.store8 (i32.const 16) (i32.const 2))     ;; case 2: modify
    (i32.store8 (i32.const 20) (i32.const 1))     ;; status is-some (action+4)
    (i32.store16 (i32.const 22) (i32.const 503))  ;; status (action+6)
    (i32.store (i32.const 24) (i32.const 512))    ;; headers-set ptr (action+8)
    (i32.store (i32.const 28) (i32.const 3))      ;; headers-set len
    (i32.store8 (i32.const 48) (i32.const 1))     ;; body-replace is-some (action+32)
    (i32.store (i32.const 52) (i32.const 1024))   ;; body ptr
    (i32.store (i32.const 56) (i32.const 129))    ;; body len
    (i32.const 16))
)
