//! Parsed and validated operations, kept per worker so that a client sending the same document
//! again (with new variables, as GraphQL clients do) skips parsing and validation.
//!
//! juniper's `ValidatedOperation` borrows its document and schema; [`PreparedOperation`] owns both
//! (self_cell) so it can live in a cache. Limits (depth, fields, tokens) and the introspection
//! switch are checked when an operation is prepared, so a cached one has passed them. Documents
//! that fail are never cached.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use juniper::{EmptySubscription, GraphQLError, ValidatedOperation};
use self_cell::self_cell;

use super::context::RequestContext;
use super::schema::{Mutation, Query, Schema};

/// Distinct (document, operation name) pairs a worker keeps; the cache starts over when full.
const CAPACITY: usize = 256;

/// What a prepared operation borrows from.
pub struct Source {
    schema: Arc<Schema>,
    document: Box<str>,
    operation_name: Option<Box<str>>,
}

type Validated<'a> = ValidatedOperation<'a, Query, Mutation, EmptySubscription<RequestContext>>;

self_cell!(
    /// A parsed and validated operation together with the document and schema it borrows.
    pub struct PreparedOperation {
        owner: Source,
        #[covariant]
        dependent: Validated,
    }
);

/// The prepared operations of one document, by operation name.
type ByName = Vec<(Option<Box<str>>, Rc<PreparedOperation>)>;

/// The operations one worker has prepared, by document text and operation name.
#[derive(Default)]
pub struct PreparedOperations {
    by_document: RefCell<HashMap<Box<str>, ByName>>,
}

impl PreparedOperations {
    /// The prepared operation for `document` / `operation_name`, parsing and validating it on
    /// first sight. Errors are the ones juniper reports for the document.
    pub fn get(
        &self,
        schema: &Arc<Schema>,
        document: &str,
        operation_name: Option<&str>,
    ) -> Result<Rc<PreparedOperation>, GraphQLError> {
        if let Some(found) = self.by_document.borrow().get(document).and_then(|named| {
            named
                .iter()
                .find(|(name, _)| name.as_deref() == operation_name)
                .map(|(_, prepared)| Rc::clone(prepared))
        }) {
            return Ok(found);
        }
        let source = Source {
            schema: Arc::clone(schema),
            document: document.into(),
            operation_name: operation_name.map(Into::into),
        };
        let prepared = Rc::new(PreparedOperation::try_new(source, |source| {
            ValidatedOperation::new(
                &source.document,
                source.operation_name.as_deref(),
                &source.schema,
            )
        })?);
        let mut cache = self.by_document.borrow_mut();
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache
            .entry(document.into())
            .or_default()
            .push((operation_name.map(Into::into), Rc::clone(&prepared)));
        Ok(prepared)
    }
}
