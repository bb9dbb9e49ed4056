//! Write [berth](https://example.invalid/berth) deployment components in Rust.
//!
//! A component is a type that implements [`Component`]; [`export!`] registers
//! it. The crate builds for `wasm32-unknown-unknown` and berth runs it in a
//! sandbox:
//!
//! ```
//! use berth_sdk::{Attribute, Component, Configure, Directory, File, Result};
//!
//! /// Writes a greeting into the workdir.
//! struct Hello;
//!
//! impl Component for Hello {
//!     const NAME: &'static str = "hello";
//!     const DOC: &'static str = "Writes `hello/greeting.txt` into the workdir.";
//!
//!     fn attributes() -> Vec<Attribute> {
//!         vec![Attribute::string("greeting").default("hello").doc("What the file says.")]
//!     }
//!
//!     fn configure(cx: &mut Configure) -> Result<()> {
//!         let greeting: String = cx.attribute("greeting")?;
//!         let host = cx.host();
//!         // Top-level steps run in order.
//!         cx.add(Directory::new("hello"));
//!         cx.add(File::new("hello/greeting.txt").text(format!("{greeting}, {}\n", host.name)));
//!         Ok(())
//!     }
//! }
//!
//! berth_sdk::export!(Hello);
//! # fn main() {}
//! ```
//!
//! # Phases
//!
//! - [`Component::configure`] computes the target state as a tree of steps.
//!   It must be deterministic and may only use the [`Configure`] context:
//!   berth refuses [`fs`] and [`process`] calls made during configure.
//! - Steps are deployed in the order they were added, depth-first: the
//!   children of a step (added with [`Configure::add_under`]) before the step
//!   itself, so that the parent can react to a changed child.
//! - Built-in steps ([`File`], [`Directory`], [`Symlink`], [`Purge`],
//!   [`Command`]) are verified and updated by berth itself.
//! - [`Custom`] steps are handed back to [`Component::verify`] (which must not
//!   change anything: writes are refused there) and, when verify says
//!   [`Verdict::NeedsUpdate`], to [`Component::update`].
//!
//! # Capabilities
//!
//! A component may read and write its workdir and read its definition folder
//! (defdir). Anything else it must declare in [`Component::needs`], and the
//! environment must grant it.
//!
//! # Panics
//!
//! A panic in a component is written to berth's log at error level, then the
//! component traps and berth reports the step as failed.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

extern crate self as berth_sdk;

mod attribute;
mod configure;
mod error;
mod export;
pub mod fs;
pub mod log;
mod needs;
pub mod process;
mod steps;

pub use attribute::{Attribute, AttributeType};
pub use configure::{Address, Configure, Environment, Host, Platform, Provided, Require, StepId};
pub use error::{Error, Result};
pub use needs::{Access, Needs};
pub use steps::{
    Command, Custom, CustomStep, Directory, File, Purge, Step, StepContext, Symlink, Verdict,
};

/// The version of the WIT contract (`berth:component`) this SDK implements.
///
/// [`export!`] stores it in the `berth:api-version` custom section of the
/// component; berth reads it before instantiating the component.
pub const API_VERSION: &str = match core::str::from_utf8(&__private::API_VERSION_BYTES) {
    Ok(version) => version,
    Err(_) => panic!("the API version is ASCII"),
};

/// One root component of a package: what berth shows, configures and deploys.
///
/// Implement it on a unit struct and register the struct with [`export!`].
/// Only [`NAME`](Component::NAME) and [`configure`](Component::configure) are
/// required.
pub trait Component: 'static {
    /// The component's name, as written in the environment's `[hosts]` and
    /// `[component:NAME]` sections.
    const NAME: &'static str;

    /// What the component deploys, in a sentence or two (shown by
    /// `berth inspect`).
    const DOC: &'static str = "";

    /// The attributes the environment may set, with types, defaults and docs.
    ///
    /// Defaults to none.
    fn attributes() -> Vec<Attribute> {
        Vec::new()
    }

    /// What the component needs beyond its workdir and defdir.
    ///
    /// Defaults to nothing more.
    fn needs() -> Needs {
        Needs::default()
    }

    /// Compute the component's steps with [`Configure::add`] and
    /// [`Configure::add_under`].
    ///
    /// Must be deterministic. An error fails the component before anything is
    /// changed.
    fn configure(cx: &mut Configure) -> Result<()>;

    /// Platform variants: the one whose name is the host's platform
    /// configures after [`configure`](Component::configure) and adds its
    /// steps to the same tree (batou's `@platform`).
    ///
    /// Defaults to none.
    fn platforms() -> Vec<Platform> {
        Vec::new()
    }

    /// Check a [`Custom`] step added by `configure`; never change anything.
    ///
    /// The default refuses every step: a component that adds custom steps
    /// must implement it.
    fn verify(step: &CustomStep, cx: &StepContext) -> Result<Verdict> {
        let _ = cx;
        Err(no_custom_step(Self::NAME, &step.kind))
    }

    /// Apply a [`Custom`] step after [`verify`](Component::verify) answered
    /// [`Verdict::NeedsUpdate`].
    ///
    /// The default refuses every step: a component that adds custom steps
    /// must implement it.
    fn update(step: &CustomStep, cx: &StepContext) -> Result<()> {
        let _ = cx;
        Err(no_custom_step(Self::NAME, &step.kind))
    }
}

fn no_custom_step(component: &str, kind: &str) -> Error {
    Error::Invalid(format!(
        "component `{component}` has no custom step `{kind}`"
    ))
}

/// Registers the package's root components with berth.
///
/// Call it once per crate with every [`Component`] the package provides:
///
/// ```ignore
/// berth_sdk::export!(Nginx, Certificates);
/// ```
///
/// The package's name and version are the crate's (`CARGO_PKG_NAME`,
/// `CARGO_PKG_VERSION`). The macro also stamps [`API_VERSION`] into the
/// `berth:api-version` custom section.
#[macro_export]
macro_rules! export {
    ($($root:ty),+ $(,)?) => {
        const _: () = {
            #[unsafe(link_section = "berth:api-version")]
            #[used]
            static __BERTH_API_VERSION: [u8; $crate::__private::API_VERSION_BYTES.len()] =
                $crate::__private::API_VERSION_BYTES;

            struct __BerthPackage;

            impl $crate::__private::Package for __BerthPackage {
                const NAME: &'static str = ::core::env!("CARGO_PKG_NAME");
                const VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");

                fn roots() -> ::std::vec::Vec<$crate::__private::Root> {
                    ::std::vec![$($crate::__private::Root::of::<$root>()),+]
                }
            }

            $crate::__private::bindings::__export_bindings!(__BerthPackage with_types_in $crate::__private::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    //! Used by [`export!`](crate::export); not part of the API.

    pub use crate::export::{Package, Root};
    pub use wit_bindgen;

    /// The bytes of [`API_VERSION`](crate::API_VERSION), as stored in the
    /// custom section.
    pub const API_VERSION_BYTES: [u8; 5] = *b"0.1.0";

    #[allow(missing_docs, missing_debug_implementations, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
            world: "berth:component/component@0.1.0",
            pub_export_macro: true,
            export_macro_name: "__export_bindings",
            default_bindings_module: "berth_sdk::__private::bindings",
            runtime_path: "berth_sdk::__private::wit_bindgen::rt",
        });
    }
}
