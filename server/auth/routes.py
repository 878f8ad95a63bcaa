"""Routes for sign-in, tokens, accounts, units and cameras."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.access import users
from server.auth.schemas import (
    MAX_ROW_ID,
    AccessGrant,
    CameraCreate,
    CameraCreated,
    CameraPublic,
    CameraUpdate,
    DeviceTokenRequest,
    DeviceTokenResponse,
    RefreshRequest,
    TokenRequest,
    TokenResponse,
    TrainingRecord,
    UnitCreate,
    UnitPublic,
    UserCreate,
    UserPublic,
)
from server.auth.service import AuthService
from server.errors import strict_json_body
from server.resources import DbSession, Resources, ServerResources

UserId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]


def _service(db: AsyncSession, res: Resources) -> AuthService:
    return AuthService(db, res)


class TokenController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    opt = {"exclude_from_auth": True}  # these calls are how a token is obtained
    before_request = strict_json_body

    @post("/token", status_code=200, summary="Sign in with username and password")
    async def token(self, data: JSONBody[TokenRequest], request: Request, db: DbSession,
                    resources: ServerResources) -> TokenResponse:
        return await _service(db, resources).login(data.username, data.password,
                                                   request.client.host if request.client else None)

    @post("/refresh", status_code=200, summary="Trade a refresh token for a new pair (the old one stops working)")
    async def refresh(self, data: JSONBody[RefreshRequest], db: DbSession, resources: ServerResources) -> TokenResponse:
        return await _service(db, resources).refresh(data.refresh_token)

    @post("/device-token", status_code=200, summary="A dash camera's token, from its id and secret")
    async def device_token(self, data: JSONBody[DeviceTokenRequest], db: DbSession, resources: ServerResources,
                           ) -> DeviceTokenResponse:
        return await _service(db, resources).device_token(data.camera_id, data.secret)


class AdminController(Controller):
    path = "/api/v1"
    tags = ["administration"]
    before_request = strict_json_body

    @get("/users/me", guards=[users()], summary="The signed-in account")
    async def me(self, request: Request, db: DbSession, resources: ServerResources) -> UserPublic:
        return await _service(db, resources).get_user(request.user.id)

    @post("/users", guards=[users("admin")], summary="Create an account")
    async def create_user(self, data: JSONBody[UserCreate], db: DbSession, resources: ServerResources) -> UserPublic:
        return await _service(db, resources).create_user(data)

    @post("/users/{user_id:int}/training", status_code=200, guards=[users("admin")],
          summary="Record completed ALPR training (policy A.3)")
    async def training(self, user_id: UserId, data: JSONBody[TrainingRecord], request: Request, db: DbSession,
                       resources: ServerResources) -> UserPublic:
        return await _service(db, resources).record_training(user_id, data, request.user)

    @post("/users/{user_id:int}/access-grant", status_code=200, guards=[users("chief")],
          summary="Grant or withdraw ALPR access (policy F.5; Chief or designee)")
    async def access_grant(self, user_id: UserId, data: JSONBody[AccessGrant], request: Request, db: DbSession,
                           resources: ServerResources) -> UserPublic:
        return await _service(db, resources).set_access_grant(user_id, data, request.user,
                                                              request.client.host if request.client else None)

    @post("/units", guards=[users("admin")], summary="Register a patrol unit")
    async def create_unit(self, data: JSONBody[UnitCreate], db: DbSession, resources: ServerResources) -> UnitPublic:
        return await _service(db, resources).create_unit(data)

    @get("/units", guards=[users()], summary="List patrol units")
    async def list_units(self, db: DbSession, resources: ServerResources) -> list[UnitPublic]:
        return await _service(db, resources).list_units()

    @post("/cameras", guards=[users("admin")], summary="Register a dash camera; its secret is shown once")
    async def create_camera(self, data: JSONBody[CameraCreate], db: DbSession, resources: ServerResources) -> CameraCreated:
        return await _service(db, resources).create_camera(data)

    @patch("/cameras/{camera_id:str}", guards=[users("admin")], summary="Enable or disable a dash camera")
    async def update_camera(self, camera_id: FromPath[str], data: JSONBody[CameraUpdate], db: DbSession, resources: ServerResources,
                            ) -> CameraPublic:
        return await _service(db, resources).set_camera_enabled(camera_id, data.enabled)
