//! Attribute declarations.

use serde::Serialize;

use crate::__private::bindings::berth::component::types as wit;

/// The type of an attribute's value. Values cross the boundary as JSON; the
/// environment's overrides are converted to this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeType {
    /// A JSON string.
    String,
    /// A JSON integer.
    Int,
    /// A JSON boolean.
    Bool,
    /// A JSON array.
    List,
    /// A JSON object.
    Map,
    /// A service address, written `host:port`; read it as an [`Address`],
    /// resolved through the environment's `[resolver]` and DNS.
    ///
    /// [`Address`]: crate::Address
    Address,
}

/// A setting of a root component that the environment may override.
///
/// ```
/// use berth_sdk::Attribute;
///
/// let port = Attribute::int("port").default(8080).doc("The port nginx listens on.");
/// let admins = Attribute::list("admins").default(Vec::<String>::new());
/// let token = Attribute::string("token"); // no default: the environment must set it
/// # let _ = (port, admins, token);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub(crate) name: String,
    pub(crate) ty: AttributeType,
    /// The default as JSON, or the message of a default that could not be
    /// serialized (reported by `describe`).
    pub(crate) default: Option<Result<String, String>>,
    pub(crate) doc: String,
}

impl Attribute {
    /// An attribute of the given name and type, without default or doc.
    pub fn new(name: impl Into<String>, ty: AttributeType) -> Self {
        Attribute {
            name: name.into(),
            ty,
            default: None,
            doc: String::new(),
        }
    }

    /// A string attribute.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::String)
    }

    /// An integer attribute.
    pub fn int(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::Int)
    }

    /// A boolean attribute.
    pub fn bool(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::Bool)
    }

    /// A list attribute.
    pub fn list(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::List)
    }

    /// A map (JSON object) attribute.
    pub fn map(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::Map)
    }

    /// A service address attribute (`host:port`), read as an
    /// [`Address`](crate::Address). Its default is written the same way:
    /// `Attribute::address("listen").default("localhost:8080")`.
    pub fn address(name: impl Into<String>) -> Self {
        Self::new(name, AttributeType::Address)
    }

    /// The value used when the environment does not set one. Without a
    /// default the attribute is required.
    pub fn default(mut self, value: impl Serialize) -> Self {
        self.default = Some(serde_json::to_string(&value).map_err(|e| e.to_string()));
        self
    }

    /// One or two sentences shown by `berth inspect`.
    pub fn doc(mut self, doc: impl Into<String>) -> Self {
        self.doc = doc.into();
        self
    }

    /// The attribute's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attribute's type.
    pub fn ty(&self) -> AttributeType {
        self.ty
    }

    pub(crate) fn to_wit(&self, component: &str) -> Result<wit::AttributeDecl, String> {
        let default = match &self.default {
            None => None,
            Some(Ok(json)) => Some(json.clone()),
            Some(Err(e)) => {
                return Err(format!(
                    "component `{component}`: default of attribute `{}` is not JSON: {e}",
                    self.name
                ));
            }
        };
        Ok(wit::AttributeDecl {
            name: self.name.clone(),
            type_: match self.ty {
                AttributeType::String => wit::AttributeType::String,
                AttributeType::Int => wit::AttributeType::Int,
                AttributeType::Bool => wit::AttributeType::Bool,
                AttributeType::List => wit::AttributeType::List,
                AttributeType::Map => wit::AttributeType::Map,
                AttributeType::Address => wit::AttributeType::Address,
            },
            default,
            doc: self.doc.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_json() {
        let a = Attribute::list("admins")
            .default(["alice", "bob"])
            .doc("who");
        let decl = a.to_wit("motd").unwrap();
        assert_eq!(decl.default.as_deref(), Some(r#"["alice","bob"]"#));
        assert_eq!(decl.doc, "who");
        assert!(
            Attribute::string("x")
                .to_wit("c")
                .unwrap()
                .default
                .is_none()
        );
    }
}
