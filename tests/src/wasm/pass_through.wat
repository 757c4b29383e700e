;; pass_through: the smallest useful middleware. It implements upstream SMG's world `smg`
;; (exports `middleware-on-request` and `middleware-on-response`) and answers `continue` to both.
;;
;; Canonical ABI notes shared by every fixture in this directory:
;; - `memory` and `cabi_realloc` are exported so the host can copy the request's strings and
;;   lists into our linear memory (a bump allocator: each call gets a fresh instance, so
;;   nothing is ever freed).
;; - `on-request(req: request)` receives the record flattened: six (pointer, length) pairs for
;;   method, path, query, headers, body and request-id, then now-epoch-ms as an i64.
;; - `on-response(resp: response)` receives status (i32), then (pointer, length) pairs for
;;   headers and body.
;; - `action` is too big to return in registers, so a function returns a pointer to it in our
;;   memory. Its layout (size 44, align 4):
;;     +0  u8   case: 0 = continue, 1 = reject, 2 = modify
;;     +4  u16  reject's status            | modify-action:
;;                                         |   +4  u8 status is-some, +6 u16 status
;;                                         |   +8  headers-set    (ptr, len) of header records
;;                                         |   +16 headers-add    (ptr, len) of header records
;;                                         |   +24 headers-remove (ptr, len) of strings
;;                                         |   +32 u8 body-replace is-some, +36 (ptr, len)
;;   A header record is 16 bytes: name (ptr, len), value (ptr, len); a string is (ptr, len).
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  ;; cabi_realloc(old_ptr, old_size, align, new_size) -> ptr
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32)
        (param $size i32) (result i32)
    (local $ptr i32)
    ;; ptr = align_up(heap, align)
    (local.set $ptr
      (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
               (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    ;; grow the memory while the heap is past its end
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (global.get $heap)
                               (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $grow)))
    (local.get $ptr))

  ;; on-request -> continue
  (func (export "smg:gateway/middleware-on-request#on-request")
        (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))   ;; case 0: continue
    (i32.const 16))

  ;; on-response -> continue
  (func (export "smg:gateway/middleware-on-response#on-response")
        (param i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.const 16))
)
