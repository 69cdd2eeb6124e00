//! Stage 1, auth: asks the call's [`crate::auth::Authenticator`] to add credentials.

use super::orchestrator::within_deadline;
use super::{CallContext, PipelineRequest};
use crate::error::Error;

/// Adds the connection's credentials to `req`; a connection without an authenticator sends
/// the request as it is.
///
/// Only an authenticator that must wait (a token to renew) is awaited under the call's
/// deadline: the usual one answers at once, and then no timer is made.
pub(crate) async fn authenticate(
    ctx: &CallContext,
    req: &mut PipelineRequest,
) -> Result<(), Error> {
    let Some(auth) = &ctx.conn.auth else {
        return Ok(());
    };
    match auth.authenticate_now(req) {
        Some(done) => done,
        None => within_deadline(ctx, auth.authenticate(req), false).await,
    }
}
