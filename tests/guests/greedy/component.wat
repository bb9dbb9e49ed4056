;; `greedy`: a test guest written by hand, for what a Rust guest cannot do:
;; it has nine linear memories and a table, and grows them in `configure`.
;; `tests/build.rs` assembles it and turns it into a component of the
;; `berth:component@0.1.0` world (see `tests/tests/all/limits.rs`).
;;
;; Two roots:
;; - `greedy-memories` grows each of its eight extra memories to 250 MiB,
;;   touching every page: 2 GB in all, each memory under a cap of 256 MiB
;;   per memory;
;; - `greedy-table` grows its table by 100,000,000 elements (800 MB).
;;
;; The canonical ABI by hand: `describe` and `configure` return a pointer to
;; their result in memory 0, laid out as the component model lays out
;; `description` and `result<list<step>, error>`.
(module
  (@custom "berth:api-version" "0.1.0")
  (memory (export "memory") 2)
  (memory $m1 0)
  (memory $m2 0)
  (memory $m3 0)
  (memory $m4 0)
  (memory $m5 0)
  (memory $m6 0)
  (memory $m7 0)
  (memory $m8 0)
  (table $t 1 funcref)
  ;; The first free byte for `cabi_realloc`.
  (global $bump (mut i32) (i32.const 8192))
  (data (i32.const 1024) "greedy")
  (data (i32.const 1040) "0.1.0")
  (data (i32.const 1056) "greedy-memories")
  (data (i32.const 1088) "Test guest: configure grows eight memories of 250 MiB each.")
  (data (i32.const 1152) "greedy-table")
  (data (i32.const 1184) "Test guest: configure grows a table by 100,000,000 elements.")

  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $size i32)
    (result i32)
    (local $at i32)
    (local.set $at
      (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
        (i32.xor (i32.sub (local.get $align) (i32.const 1)) (i32.const -1))))
    (global.set $bump (i32.add (local.get $at) (local.get $size)))
    (local.get $at))

  ;; One root-description (40 bytes at $at): name, doc, and empty lists of
  ;; attributes, paths and commands.
  (func $root (param $at i32) (param $name i32) (param $name_len i32)
    (param $doc i32) (param $doc_len i32)
    (i32.store (local.get $at) (local.get $name))
    (i32.store offset=4 (local.get $at) (local.get $name_len))
    (i32.store offset=8 (local.get $at) (local.get $doc))
    (i32.store offset=12 (local.get $at) (local.get $doc_len))
    (i32.store offset=16 (local.get $at) (i32.const 0))
    (i32.store offset=20 (local.get $at) (i32.const 0))
    (i32.store offset=24 (local.get $at) (i32.const 0))
    (i32.store offset=28 (local.get $at) (i32.const 0))
    (i32.store offset=32 (local.get $at) (i32.const 0))
    (i32.store offset=36 (local.get $at) (i32.const 0)))

  ;; description { name, version, roots } at 256; the roots at 512.
  (func (export "berth:component/lifecycle@0.1.0#describe") (result i32)
    (i32.store (i32.const 256) (i32.const 1024))
    (i32.store (i32.const 260) (i32.const 6))
    (i32.store (i32.const 264) (i32.const 1040))
    (i32.store (i32.const 268) (i32.const 5))
    (i32.store (i32.const 272) (i32.const 512))
    (i32.store (i32.const 276) (i32.const 2))
    (call $root (i32.const 512) (i32.const 1056) (i32.const 15)
      (i32.const 1088) (i32.const 59))
    (call $root (i32.const 552) (i32.const 1152) (i32.const 12)
      (i32.const 1184) (i32.const 60))
    (i32.const 256))

  ;; configure(component) -> result<list<step>, error>: grows, then
  ;; returns ok with no steps (at 128). `greedy-memories` and
  ;; `greedy-table` differ at byte 7.
  (func (export "berth:component/lifecycle@0.1.0#configure")
    (param $name i32) (param $len i32) (result i32)
    (if (i32.eq (i32.load8_u offset=7 (local.get $name)) (i32.const 109)) ;; `m`
      (then (call $memories))
      (else (drop (table.grow $t (ref.null func) (i32.const 100000000)))))
    (i32.store8 (i32.const 128) (i32.const 0))
    (i32.store (i32.const 132) (i32.const 0))
    (i32.store (i32.const 136) (i32.const 0))
    (i32.const 128))

  ;; Each extra memory to 4000 pages (250 MiB), a page at a time, writing
  ;; to every 4 KiB of each new page so that the memory is really used.
  (func $memories
    (local $page i32)
    (block $done1
      (loop $grow1
        (br_if $done1 (i32.ge_u (memory.size $m1) (i32.const 4000)))
        (local.set $page (memory.grow $m1 (i32.const 1)))
        (br_if $done1 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch1 (local.get $page))
        (br $grow1)))
    (block $done2
      (loop $grow2
        (br_if $done2 (i32.ge_u (memory.size $m2) (i32.const 4000)))
        (local.set $page (memory.grow $m2 (i32.const 1)))
        (br_if $done2 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch2 (local.get $page))
        (br $grow2)))
    (block $done3
      (loop $grow3
        (br_if $done3 (i32.ge_u (memory.size $m3) (i32.const 4000)))
        (local.set $page (memory.grow $m3 (i32.const 1)))
        (br_if $done3 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch3 (local.get $page))
        (br $grow3)))
    (block $done4
      (loop $grow4
        (br_if $done4 (i32.ge_u (memory.size $m4) (i32.const 4000)))
        (local.set $page (memory.grow $m4 (i32.const 1)))
        (br_if $done4 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch4 (local.get $page))
        (br $grow4)))
    (block $done5
      (loop $grow5
        (br_if $done5 (i32.ge_u (memory.size $m5) (i32.const 4000)))
        (local.set $page (memory.grow $m5 (i32.const 1)))
        (br_if $done5 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch5 (local.get $page))
        (br $grow5)))
    (block $done6
      (loop $grow6
        (br_if $done6 (i32.ge_u (memory.size $m6) (i32.const 4000)))
        (local.set $page (memory.grow $m6 (i32.const 1)))
        (br_if $done6 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch6 (local.get $page))
        (br $grow6)))
    (block $done7
      (loop $grow7
        (br_if $done7 (i32.ge_u (memory.size $m7) (i32.const 4000)))
        (local.set $page (memory.grow $m7 (i32.const 1)))
        (br_if $done7 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch7 (local.get $page))
        (br $grow7)))
    (block $done8
      (loop $grow8
        (br_if $done8 (i32.ge_u (memory.size $m8) (i32.const 4000)))
        (local.set $page (memory.grow $m8 (i32.const 1)))
        (br_if $done8 (i32.eq (local.get $page) (i32.const -1)))
        (call $touch8 (local.get $page))
        (br $grow8))))

  (func $touch1 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m1 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))
  (func $touch2 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m2 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))
  (func $touch3 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m3 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))
  (func $touch4 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m4 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))
  (func $touch5 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m5 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))
  (func $touch6 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m6 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))
  (func $touch7 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m7 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))
  (func $touch8 (param $page i32)
    (local $at i32)
    (local.set $at (i32.mul (local.get $page) (i32.const 65536)))
    (loop $next
      (i32.store8 $m8 (local.get $at) (i32.const 1))
      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
      (br_if $next (i32.rem_u (local.get $at) (i32.const 65536)))))

  ;; verify(step, context) -> result<verdict, error>: ok(up-to-date).
  (func (export "berth:component/lifecycle@0.1.0#verify")
    (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 160) (i32.const 0))
    (i32.store8 (i32.const 164) (i32.const 0))
    (i32.const 160))

  ;; update(step, context) -> result<_, error>: ok.
  (func (export "berth:component/lifecycle@0.1.0#update")
    (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    (i32.store8 (i32.const 176) (i32.const 0))
    (i32.const 176)))
