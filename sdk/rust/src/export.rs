//! The glue between [`export!`](crate::export) and the generated bindings.

use std::sync::Once;

use crate::__private::bindings::berth::component::types as wit;
use crate::__private::bindings::exports::berth::component::lifecycle;
use crate::{Component, Configure, CustomStep, Error, Result, StepContext, Verdict};

/// A package as [`export!`](crate::export) describes it.
pub trait Package {
    /// The package's name (the crate's).
    const NAME: &'static str;
    /// The package's version (the crate's).
    const VERSION: &'static str;
    /// The registered root components.
    fn roots() -> Vec<Root>;
}

/// A registered [`Component`], type-erased.
#[derive(Clone, Copy)]
pub struct Root {
    name: &'static str,
    doc: &'static str,
    attributes: fn() -> Vec<crate::Attribute>,
    needs: fn() -> crate::Needs,
    configure: fn(&mut Configure) -> Result<()>,
    platforms: fn() -> Vec<crate::Platform>,
    verify: fn(&CustomStep, &StepContext) -> Result<Verdict>,
    update: fn(&CustomStep, &StepContext) -> Result<()>,
}

impl std::fmt::Debug for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Root")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Root {
    /// The root component `C`.
    pub fn of<C: Component>() -> Root {
        Root {
            name: C::NAME,
            doc: C::DOC,
            attributes: C::attributes,
            needs: C::needs,
            configure: C::configure,
            platforms: C::platforms,
            verify: C::verify,
            update: C::update,
        }
    }
}

fn find<P: Package>(component: &str) -> Result<Root> {
    let roots = P::roots();
    roots
        .iter()
        .find(|r| r.name == component)
        .copied()
        .ok_or_else(|| {
            let names: Vec<_> = roots.iter().map(|r| format!("`{}`", r.name)).collect();
            Error::NotFound(format!(
                "package `{}` has no component `{component}` (it has {})",
                P::NAME,
                names.join(", ")
            ))
        })
}

/// Guests build with `panic = "abort"`, so the host would only see a trap:
/// write the panic message to berth's log first.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info.payload_as_str().unwrap_or("(no message)");
            match info.location() {
                Some(at) => crate::log::error(format!("panicked at {at}: {message}")),
                None => crate::log::error(format!("panicked: {message}")),
            }
        }));
    });
}

impl<P: Package> lifecycle::Guest for P {
    fn describe() -> wit::Description {
        install_panic_hook();
        let roots = P::roots()
            .iter()
            .map(|root| wit::RootDescription {
                name: root.name.to_owned(),
                doc: root.doc.to_owned(),
                attributes: (root.attributes)()
                    .iter()
                    .map(|a| a.to_wit(root.name).unwrap_or_else(|e| panic!("{e}")))
                    .collect(),
                needs: (root.needs)().to_wit(),
            })
            .collect();
        wit::Description {
            name: P::NAME.to_owned(),
            version: P::VERSION.to_owned(),
            roots,
        }
    }

    fn configure(component: String) -> Result<Vec<wit::Step>, wit::Error> {
        install_panic_hook();
        let root = find::<P>(&component)?;
        let mut cx = Configure::new(&component);
        (root.configure)(&mut cx)?;
        let variants = (root.platforms)();
        if !variants.is_empty() {
            let platform = cx.host().platform;
            if let Some(variant) = variants.iter().find(|v| v.name() == platform) {
                crate::log::debug(format!("configuring the platform variant `{platform}`"));
                (variant.configure)(&mut cx)
                    .map_err(|e| e.context(format!("platform variant `{platform}`")))?;
            }
        }
        Ok(cx.finish()?)
    }

    fn verify(
        step: wit::CustomSpec,
        context: wit::StepContext,
    ) -> Result<wit::Verdict, wit::Error> {
        install_panic_hook();
        let root = find::<P>(&context.component)?;
        let (step, cx) = convert(step, context);
        Ok(match (root.verify)(&step, &cx)? {
            Verdict::UpToDate => wit::Verdict::UpToDate,
            Verdict::NeedsUpdate(reason) => wit::Verdict::NeedsUpdate(reason),
        })
    }

    fn update(step: wit::CustomSpec, context: wit::StepContext) -> Result<(), wit::Error> {
        install_panic_hook();
        let root = find::<P>(&context.component)?;
        let (step, cx) = convert(step, context);
        Ok((root.update)(&step, &cx)?)
    }
}

fn convert(step: wit::CustomSpec, context: wit::StepContext) -> (CustomStep, StepContext) {
    (
        CustomStep {
            kind: step.kind,
            data: step.data,
        },
        StepContext {
            component: context.component,
            children_changed: context.children_changed,
        },
    )
}
