//! Stage 1, auth: asks the call's [`crate::auth::Authenticator`] to add credentials.

use super::{CallContext, PipelineRequest};
use crate::error::Error;

/// Adds the connection's credentials to `req`; a connection without an authenticator sends
/// the request as it is.
pub(crate) async fn authenticate(
    ctx: &CallContext,
    req: &mut PipelineRequest,
) -> Result<(), Error> {
    let Some(auth) = &ctx.conn.auth else {
        return Ok(());
    };
    match auth.authenticate_now(req) {
        Some(done) => done,
        None => auth.authenticate(req).await,
    }
}
