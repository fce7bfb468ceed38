//! Data actions (setvar, capture).

use super::{SetVarOp, SetVarOperation};
use crate::variables::MutableCollection;

/// Apply a setvar operation to a collection.
pub fn apply_setvar<C: MutableCollection>(collection: &mut C, op: &SetVarOp) {
    match &op.operation {
        SetVarOperation::Set(value) => {
            collection.set(op.name.clone(), value.clone());
        }
        SetVarOperation::Increment(delta) => {
            collection.increment(&op.name, *delta);
        }
        SetVarOperation::Decrement(delta) => {
            collection.decrement(&op.name, *delta);
        }
        SetVarOperation::Delete => {
            collection.delete(&op.name);
        }
        SetVarOperation::Macro(_) => {
            // Macro values are expanded and resolved to a concrete operation by
            // the transaction before reaching this function; nothing to do here.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::{Collection, HashMapCollection};

    #[test]
    fn test_setvar_set() {
        let mut tx = HashMapCollection::new();
        let op = SetVarOp {
            collection: "TX".to_string(),
            name: "score".to_string(),
            operation: SetVarOperation::Set("5".to_string()),
        };
        apply_setvar(&mut tx, &op);
        let values = tx.get("score");
        assert_eq!(values.and_then(|v| v.first().copied()), Some("5"));
    }

    #[test]
    fn test_setvar_increment() {
        let mut tx = HashMapCollection::new();
        tx.set("score".to_string(), "10".to_string());
        let op = SetVarOp {
            collection: "TX".to_string(),
            name: "score".to_string(),
            operation: SetVarOperation::Increment(5),
        };
        apply_setvar(&mut tx, &op);
        let values = tx.get("score");
        assert_eq!(values.and_then(|v| v.first().copied()), Some("15"));
    }

    #[test]
    fn test_setvar_decrement() {
        let mut tx = HashMapCollection::new();
        tx.set("score".to_string(), "10".to_string());
        let op = SetVarOp {
            collection: "TX".to_string(),
            name: "score".to_string(),
            operation: SetVarOperation::Decrement(3),
        };
        apply_setvar(&mut tx, &op);
        let values = tx.get("score");
        assert_eq!(values.and_then(|v| v.first().copied()), Some("7"));
    }
}
