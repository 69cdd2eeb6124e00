//! [`Agency`]: what an agency's token may do for its locations: exchange itself for one
//! location's token (`POST /oauth/locationToken`), the way a marketplace app installed on a
//! whole agency reaches each location.

use std::future::Future;
use std::pin::Pin;

use crate::ghl::{GhlClient, GhlError};
use crate::tokens::{parse_token_response, Token};
use crate::toolkit::Call;
use crate::{Error, Response};

/// The agency-level calls of a client whose connection holds an agency (company) token.
#[derive(Debug, Clone)]
pub struct Agency {
    client: GhlClient,
}

fn decode_token(response: Response) -> Pin<Box<dyn Future<Output = Result<Token, Error>> + Send>> {
    Box::pin(async move {
        let body = response.bytes().await?;
        parse_token_response(&body).map_err(Error::from)
    })
}

impl Agency {
    pub(crate) fn new(client: GhlClient) -> Self {
        Agency { client }
    }

    /// A token for `location_id` of agency `company_id`, made from this connection's agency
    /// token (`POST /oauth/locationToken`). Store it for the location's connection with
    /// [`TokenManager::store_token`](crate::tokens::TokenManager::store_token); its refresh
    /// token then renews it like any location token. The answer's `locationId` is in
    /// [`Token::extra`].
    pub fn location_token(&self, company_id: &str, location_id: &str) -> Call<Token, GhlError> {
        let request = self
            .client
            .connection()
            .post("/oauth/locationToken")
            .endpoint("oauth.location_token")
            .form(&[("companyId", company_id), ("locationId", location_id)]);
        Call::with_decoder(request, decode_token)
    }
}
