//! WASI for guests that import it (Python, JS): wasmtime-wasi's
//! implementation with an empty context, except that every clock a guest
//! waits on ends at the deadline of the running call.
//!
//! A blocking WASI call runs on the host, where epoch interruption cannot
//! reach it: without this, `time.sleep(120)` in a Python component would
//! keep berth waiting 120 s past a 5 s deadline. With it the sleep returns
//! at the deadline, and the guest traps at its next instruction that checks
//! the epoch.

use crate::host::State;
use std::time::Instant;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::clocks::WasiClocksCtxView;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{
    self, Duration, Instant as WasiInstant,
};

/// Adds WASI to `linker`, with the monotonic clock bounded by the deadline.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let result = monotonic_clock::add_to_linker::<State, Bounded>(linker, |state| BoundedClock {
        deadline: state.deadline,
        overran: &mut state.overran,
        inner: WasiClocksCtxView {
            ctx: state.wasi.clocks(),
            table: &mut state.table,
        },
    });
    linker.allow_shadowing(false);
    result
}

struct Bounded;

impl HasData for Bounded {
    type Data<'a> = BoundedClock<'a>;
}

/// wasmtime-wasi's monotonic clock, whose waits end at `deadline`.
struct BoundedClock<'a> {
    deadline: Instant,
    /// Set when a wait is cut: the call fails at its deadline.
    overran: &'a mut bool,
    inner: WasiClocksCtxView<'a>,
}

impl BoundedClock<'_> {
    /// `nanos` from now, cut to what is left of the call.
    fn bound(&mut self, nanos: u64) -> u64 {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let left = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
        if nanos > left {
            *self.overran = true;
        }
        nanos.min(left)
    }
}

impl monotonic_clock::Host for BoundedClock<'_> {
    fn now(&mut self) -> wasmtime::Result<WasiInstant> {
        monotonic_clock::Host::now(&mut self.inner)
    }

    fn resolution(&mut self) -> wasmtime::Result<Duration> {
        monotonic_clock::Host::resolution(&mut self.inner)
    }

    fn subscribe_instant(&mut self, when: WasiInstant) -> wasmtime::Result<Resource<DynPollable>> {
        let now = monotonic_clock::Host::now(&mut self.inner)?;
        let nanos = self.bound(when.saturating_sub(now));
        monotonic_clock::Host::subscribe_duration(&mut self.inner, nanos)
    }

    fn subscribe_duration(&mut self, nanos: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let nanos = self.bound(nanos);
        monotonic_clock::Host::subscribe_duration(&mut self.inner, nanos)
    }
}
