;; wasi_clock_random: upstream's world `smg` plus WASI imports, as a module built for
;; `wasm32-wasip2` has them (world `smg-wasi`; the ABI is described in pass_through.wat).
;; - on-request  -> continue
;; - on-response -> modify { headers-set: [x-wasi-random: <16 hex digits of get-random-u64>,
;;                                         x-wasi-clock: sane | wrong] }
;;   `sane` when wall-clock `now` is after 2020-09-13 (1 600 000 000 s), as a real clock is.
;;
;; Lowered imports: `get-random-u64() -> u64` returns an i64; `now() -> datetime` returns a
;; record too big for registers, so it takes a pointer where the host writes it (seconds u64
;; at +0, nanoseconds u32 at +8).
(module
  (import "wasi:random/random@0.2.0" "get-random-u64" (func $random (result i64)))
  (import "wasi:clocks/wall-clock@0.2.0" "now" (func $now (param i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 256) "x-wasi-random")      ;; 13 bytes
  (data (i32.const 272) "x-wasi-clock")       ;; 12 bytes
  (data (i32.const 288) "sane")               ;; 4 bytes
  (data (i32.const 296) "wrong")              ;; 5 bytes
  (data (i32.const 304) "0123456789abcdef")   ;; hex digits

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
    (i32.store8 (i32.const 16) (i32.const 0))   ;; case 0: continue
    (i32.const 16))

  (func (export "smg:gateway/middleware-on-response#on-response")
        (param i32 i32 i32 i32 i32) (result i32)
    (local $r i64)
    (local $i i32)
    ;; 16 hex digits of a random u64 at 1100, last digit first.
    (local.set $r (call $random))
    (local.set $i (i32.const 15))
    (loop $hex
      (i32.store8 (i32.add (i32.const 1100) (local.get $i))
        (i32.load8_u (i32.add (i32.const 304)
                              (i32.wrap_i64 (i64.and (local.get $r) (i64.const 15))))))
      (local.set $r (i64.shr_u (local.get $r) (i64.const 4)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $hex (i32.ge_s (local.get $i) (i32.const 0))))
    ;; The wall clock's datetime at 1024.
    (call $now (i32.const 1024))
    ;; header records at 512: x-wasi-random, then x-wasi-clock
    (i32.store (i32.const 512) (i32.const 256))
    (i32.store (i32.const 516) (i32.const 13))
    (i32.store (i32.const 520) (i32.const 1100))
    (i32.store (i32.const 524) (i32.const 16))
    (i32.store (i32.const 528) (i32.const 272))
    (i32.store (i32.const 532) (i32.const 12))
    (if (i64.gt_u (i64.load (i32.const 1024)) (i64.const 1600000000))
      (then
        (i32.store (i32.const 536) (i32.const 288))
        (i32.store (i32.const 540) (i32.const 4)))
      (else
        (i32.store (i32.const 536) (i32.const 296))
        (i32.store (i32.const 540) (i32.const 5))))
    ;; modify { headers-set: the two records }, everything else empty or none
    (memory.fill (i32.const 16) (i32.const 0) (i32.const 44))
    (i32.store8 (i32.const 16) (i32.const 2))    ;; case 2: modify
    (i32.store (i32.const 24) (i32.const 512))   ;; headers-set ptr (action+8)
    (i32.store (i32.const 28) (i32.const 2))     ;; headers-set len
    (i32.const 16))
)
