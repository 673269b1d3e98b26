//! `POST /auth/login`: username and password as form fields (what the chapter's clients send) or
//! JSON; answers `{access_token, token_type: "bearer", expires_in}`.
//!
//! The chapter's TypeScript client merges `Content-Type: application/json` into a `FormData`
//! request, so fetch sends a multipart body under a JSON label. A JSON-labelled body that starts
//! with a multipart boundary line is therefore read as multipart, so that client works unchanged.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use ragd_api::TokenResponse;
use ragd_core::types::TenantId;
use secrecy::SecretString;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{Fields, body_bytes, content_type, is_json, media_type, parse_object};
use crate::state::AppState;

/// Largest login body, in bytes.
pub(crate) const MAX_LOGIN_BYTES: usize = 16 * 1024;

struct Credentials {
    username: String,
    password: SecretString,
    /// The user's tenant: needed only when several tenants have the name.
    tenant: Option<TenantId>,
}

/// Log in.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body(description = "form fields `username`, `password` (urlencoded or multipart), or the same as JSON",
        content(
            (ragd_api::LoginRequest = "application/x-www-form-urlencoded"),
            (ragd_api::LoginRequest = "multipart/form-data"),
            (ragd_api::LoginRequest = "application/json"),
        )),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = ragd_api::ErrorBody, description = "unknown user, wrong password or disabled user"),
        (status = 422, body = ragd_api::ErrorBody),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<TokenResponse>> {
    let content_type = content_type(request.headers());
    let bytes = body_bytes(request, &state).await?;
    let credentials = parse_credentials(&content_type, bytes).await?;
    // Per account, whatever the address (the middleware counts per address): guessing one
    // account's password from many addresses. Names are counted case-insensitively.
    let account = format!(
        "login-user:{}/{}",
        credentials.tenant.as_ref().map_or("*", TenantId::as_str),
        credentials.username.to_lowercase()
    );
    let quota = state.limits.config.login_account;
    let decision = state.limits.limiter.hit(&account, quota).await?;
    if !decision.allowed {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "too many login attempts for this account; retry after the window resets",
        )
        .with_retry_after(decision.reset_after));
    }
    let token = state
        .auth
        .login(
            credentials.tenant.as_ref(),
            &credentials.username,
            credentials.password,
        )
        .await?;
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "bearer".into(),
        expires_in: state.auth.expires_in().as_secs(),
    }))
}

async fn parse_credentials(content_type: &str, bytes: Bytes) -> ApiResult<Credentials> {
    let essence = media_type(content_type);
    let pairs: Vec<(String, String)> = if essence == "application/x-www-form-urlencoded" {
        serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            ApiError::new(ErrorCode::BadRequest, format!("malformed form body: {e}"))
        })?
    } else if essence == "multipart/form-data" {
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            ApiError::new(ErrorCode::BadRequest, "multipart body without a boundary")
        })?;
        multipart_fields(bytes, boundary).await?
    } else if is_json(content_type) && bytes.starts_with(b"--") {
        let first_line = bytes
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        let boundary = String::from_utf8_lossy(&first_line[2..]).into_owned();
        multipart_fields(bytes, boundary).await?
    } else if is_json(content_type) {
        parse_object(&bytes)?
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect()
    } else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send username and password as form fields or JSON",
        ));
    };
    let map = pairs
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let mut fields = Fields::new(map);
    let username = fields.required_string("username");
    let password = fields.required_string("password");
    let tenant = fields.string("tenant", 64);
    // Login forms often carry extra fields (OAuth2's grant_type, scope, client_id): allowed.
    fields.check()?;
    let tenant = match tenant {
        Some(t) => Some(TenantId::parse(&t).map_err(|e| {
            ApiError::validation(vec![ragd_api::FieldError {
                field: "tenant".into(),
                message: e.to_string(),
                kind: "invalid".into(),
            }])
        })?),
        None => None,
    };
    match (username, password) {
        (Some(username), Some(password)) => Ok(Credentials {
            username,
            password: SecretString::from(password),
            tenant,
        }),
        _ => Err(ApiError::internal("credentials missing after validation")),
    }
}

async fn multipart_fields(bytes: Bytes, boundary: String) -> ApiResult<Vec<(String, String)>> {
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    let bad = |e: multer::Error| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("malformed multipart body: {e}"),
        )
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let value = field.text().await.map_err(bad)?;
        out.push((name, value));
    }
    Ok(out)
}
