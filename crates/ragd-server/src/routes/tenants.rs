//! Tenants and users over the API. Platform admins (admins of `RAGD_PLATFORM_TENANT`) list and
//! create tenants and create users in any tenant; a tenant's admins list and create the users of
//! their own tenant.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ragd_api::{NewTenant, NewUserRequest, TenantSummary, UserSummary};
use ragd_core::accounts::{NewUser, Role, User, Username};
use ragd_core::authz::Action;
use ragd_core::types::TenantId;
use secrecy::SecretString;

use crate::auth::{Principal, check_password_policy};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject};
use crate::state::AppState;

fn user_summary(u: &User) -> UserSummary {
    UserSummary {
        username: u.username.as_str().to_owned(),
        tenant: u.tenant.as_str().to_owned(),
        role: u.role.as_str().to_owned(),
        disabled: u.disabled,
        created_at: u.created_at,
    }
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::validation(vec![ragd_api::FieldError {
        field: field.into(),
        message,
        kind: "invalid".into(),
    }])
}

/// Every tenant with its document and user counts (platform admins).
#[utoipa::path(get, path = "/tenants", tag = "auth",
    responses((status = 200, body = Vec<TenantSummary>), (status = 403, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<TenantSummary>>> {
    let tenants = state.accounts.tenants(&principal.actor).await?;
    Ok(Json(
        tenants
            .iter()
            .map(|t| TenantSummary {
                name: t.name.as_str().to_owned(),
                documents: t.documents,
                users: t.users,
                created_at: t.created_at,
            })
            .collect(),
    ))
}

/// Create a tenant (platform admins).
#[utoipa::path(post, path = "/tenants", tag = "auth", request_body = NewTenant,
    responses((status = 201, body = TenantSummary), (status = 403, body = ragd_api::ErrorBody), (status = 409, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<TenantSummary>)> {
    (state.accounts.policy()).authorize(&principal.actor, &Action::CreateTenant)?;
    let mut fields = Fields::new(body);
    let name = fields.required_string("name");
    fields.finish()?;
    let name =
        TenantId::parse(&name.unwrap_or_default()).map_err(|e| invalid("name", e.to_string()))?;
    let t = state
        .accounts
        .create_tenant(&principal.actor, &name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TenantSummary {
            name: t.name.as_str().to_owned(),
            documents: t.documents,
            users: t.users,
            created_at: t.created_at,
        }),
    ))
}

/// The users of the caller's tenant (all users for platform admins).
#[utoipa::path(get, path = "/users", tag = "auth",
    responses((status = 200, body = Vec<UserSummary>), (status = 403, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn users(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<UserSummary>>> {
    let users = state.accounts.users(&principal.actor).await?;
    Ok(Json(users.iter().map(user_summary).collect()))
}

/// Create a user: in the caller's tenant, or (platform admins) in any existing tenant.
#[utoipa::path(post, path = "/users", tag = "auth", request_body = NewUserRequest,
    responses((status = 201, body = UserSummary), (status = 403, body = ragd_api::ErrorBody),
        (status = 409, body = ragd_api::ErrorBody), (status = 422, body = ragd_api::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<UserSummary>)> {
    // Refused before the body is read when the principal may create no user at all.
    (state.accounts.policy()).authorize(&principal.actor, &Action::ListUsers)?;
    let mut fields = Fields::new(body);
    let username = fields.required_string("username");
    let password = fields.required_string("password");
    let role = fields.string("role", 16);
    let tenant = fields.string("tenant", 128);
    fields.finish()?;
    let username = Username::parse(&username.unwrap_or_default())
        .map_err(|e| invalid("username", e.to_string()))?;
    let password = password.unwrap_or_default();
    check_password_policy(&password).map_err(|e| invalid("password", e.to_string()))?;
    let role = Role::parse(role.as_deref().unwrap_or("member"))
        .map_err(|e| invalid("role", e.to_string()))?;
    let tenant = match tenant {
        Some(t) => TenantId::parse(&t).map_err(|e| invalid("tenant", e.to_string()))?,
        None => principal.tenant().clone(),
    };
    // Asked before hashing (19 MiB and tens of milliseconds), and again by create_user.
    state
        .accounts
        .may_create_user(&principal.actor, &tenant, role)
        .await?;
    let password_hash = state.auth.hash(SecretString::from(password)).await?;
    let user = state
        .accounts
        .create_user(
            &principal.actor,
            NewUser {
                username,
                tenant,
                role,
                password_hash,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user_summary(&user))))
}
