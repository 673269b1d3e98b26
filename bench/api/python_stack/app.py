"""The chapter's FastAPI RAG stack (seed chapter 08, sections 2-4, 6 and 8), as the baseline
for ragd's API benchmark (bench/api.sh).

Run it the way the chapter's Dockerfile does (section 5.1: one uvicorn process, no --workers):

    cd bench/api/python_stack && uvicorn app:app --host 127.0.0.1 --port 8000

Kept from the chapter: QueryRequest/Source/QueryResponse/HealthResponse/ErrorResponse models,
POST /query with HTTPBearer + JWT (python-jose, HS256), POST /auth/login, GET /health (which
counts the collection and embeds "test" on every call), GET /stats, GET /metrics, the error
handling, structured logging (structlog, JSON) and Prometheus middlewares, the background
metrics task, QueryValidator guardrails, a ChromaDB PersistentClient collection in cosine space
and sentence-transformers all-MiniLM-L6-v2 embeddings, similarity = 1 - cosine distance.

Changed, and why:
- OpenAI is replaced by an extractive answer: the first sentence of each of the top 3 sources
  with [n] citations (no LLM, so the benchmark measures the server, not a remote model).
- RAGSystem (an earlier chapter's LangChain class) is written out directly on chromadb +
  sentence-transformers; `aquery` runs the synchronous retrieval in the default thread pool,
  which is what LangChain does for components without a native async path
  (PY_STACK_AQUERY=inline runs it on the event loop instead).
- /auth/login reads form fields (the chapter's own clients post form data) and checks the user
  given by API_USERNAME / API_PASSWORD (defaults admin / password, as in the chapter).
- Settings are read from the chapter's environment variables with os.environ (pydantic v2 moved
  BaseSettings out); OPENAI_API_KEY is not needed.
- The chapter's RateLimiter (100 requests per hour per IP) is defined there but not wired to
  /query; it is not wired here either.
"""
import asyncio
import hmac
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

import chromadb
import structlog
from fastapi import BackgroundTasks, Depends, FastAPI, Form, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import JWTError, jwt
from prometheus_client import Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, Field, field_validator
from sentence_transformers import SentenceTransformer

# --- config/settings.py (section 6.1): same variable names and defaults --------------------
APP_NAME = os.getenv("APP_NAME", "RAG API")
APP_VERSION = os.getenv("APP_VERSION", "1.0.0")
CHROMA_DB_PATH = os.getenv("CHROMA_DB_PATH", "./db")
CHROMA_COLLECTION_NAME = os.getenv("CHROMA_COLLECTION_NAME", "documents")
EMBEDDINGS_MODEL = os.getenv("EMBEDDINGS_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
LLM_MODEL = os.getenv("LLM_MODEL", "extractive")
SECRET_KEY = os.getenv("JWT_SECRET_KEY", "your-secret-key-change-in-production")
ALGORITHM = os.getenv("JWT_ALGORITHM", "HS256")
ACCESS_TOKEN_EXPIRE_MINUTES = int(os.getenv("JWT_EXPIRE_MINUTES", "30"))
ALLOWED_ORIGINS = json.loads(os.getenv("ALLOWED_ORIGINS", '["http://localhost:3000"]'))
LOG_LEVEL = os.getenv("LOG_LEVEL", "INFO")
LOG_FORMAT = os.getenv("LOG_FORMAT", "json")
API_USERNAME = os.getenv("API_USERNAME", "admin")
API_PASSWORD = os.getenv("API_PASSWORD", "password")
AQUERY_MODE = os.getenv("PY_STACK_AQUERY", "thread")


# --- api/logging.py (section 8.1) ------------------------------------------------------------
def configure_logging(log_level: str = "INFO", log_format: str = "json"):
    level = getattr(logging, log_level.upper())
    logging.basicConfig(level=level, stream=sys.stdout, format="%(message)s")
    processors = [
        structlog.stdlib.filter_by_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if log_format == "json":
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=processors,
        context_class=dict,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


configure_logging(LOG_LEVEL, LOG_FORMAT)
logger = structlog.get_logger()


# --- api/models.py (section 2.2) -------------------------------------------------------------
class QueryRequest(BaseModel):
    query: str = Field(..., min_length=3, max_length=1000, description="Pergunta a ser respondida")
    max_results: Optional[int] = Field(default=5, ge=1, le=20, description="Número máximo de documentos a recuperar")
    threshold: Optional[float] = Field(default=0.7, ge=0.0, le=1.0, description="Limiar de similaridade")
    use_guardrails: Optional[bool] = Field(default=True, description="Aplicar guardrails na resposta")
    conversation_id: Optional[str] = Field(default=None, description="ID da conversa para contexto")

    @field_validator("query")
    @classmethod
    def validate_query(cls, v):
        if not v.strip():
            raise ValueError("Query não pode estar vazia")
        return v.strip()


class Source(BaseModel):
    content: str = Field(..., description="Trecho do documento")
    similarity: float = Field(..., description="Pontuação de similaridade")
    metadata: Dict[str, Any] = Field(default_factory=dict)


class QueryResponse(BaseModel):
    request_id: str = Field(..., description="ID único da requisição")
    query: str = Field(..., description="Pergunta original")
    answer: str = Field(..., description="Resposta gerada")
    sources: List[Source] = Field(default_factory=list)
    confidence: float = Field(..., description="Confiança na resposta")
    processing_time: float = Field(..., description="Tempo de processamento")
    timestamp: datetime = Field(default_factory=datetime.now)
    guardrails_triggered: List[str] = Field(default_factory=list)


class HealthResponse(BaseModel):
    status: str = Field(..., description="Status do serviço")
    version: str = Field(..., description="Versão da API")
    timestamp: datetime = Field(default_factory=datetime.now)
    database_status: str = Field(..., description="Status do banco vetorial")
    model_status: str = Field(..., description="Status do modelo")


class ErrorResponse(BaseModel):
    error: str = Field(..., description="Tipo do erro")
    message: str = Field(..., description="Mensagem de erro")
    request_id: Optional[str] = Field(default=None)
    timestamp: datetime = Field(default_factory=datetime.now)


# --- api/validators.py (section 3.2) ---------------------------------------------------------
class QueryValidator:
    BLOCKED_PATTERNS = [
        r"\b(hack|crack|bypass|exploit)\b",
        r"\b(password|senha|token|api_key)\b",
        r"<script.*?>.*?</script>",
        r"(delete|drop|truncate)\s+table",
    ]
    TOXIC_KEYWORDS = ["violência", "ódio", "discriminação", "illegal", "drogas", "armas"]

    @classmethod
    def validate_query_safety(cls, query: str) -> List[str]:
        violations = []
        query_lower = query.lower()
        for pattern in cls.BLOCKED_PATTERNS:
            if re.search(pattern, query_lower, re.IGNORECASE):
                violations.append("Padrão bloqueado detectado")
        for keyword in cls.TOXIC_KEYWORDS:
            if keyword in query_lower:
                violations.append("Conteúdo inadequado detectado")
        return violations

    @classmethod
    def validate_query_length(cls, query: str) -> None:
        if len(query.strip()) < 3:
            raise HTTPException(status_code=400, detail="Consulta muito curta (mínimo 3 caracteres)")
        if len(query) > 1000:
            raise HTTPException(status_code=400, detail="Consulta muito longa (máximo 1000 caracteres)")

    @classmethod
    def validate_query(cls, query: str) -> List[str]:
        cls.validate_query_length(query)
        violations = cls.validate_query_safety(query)
        if violations:
            raise HTTPException(status_code=400, detail=f"Consulta rejeitada: {'; '.join(violations)}")
        return violations


# --- RAGSystem: retrieval on Chroma + sentence-transformers, extractive answer ----------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
NO_ANSWER = "Não encontrei informações relevantes nos documentos para responder a esta pergunta."


class _Embeddings:
    """The slice of LangChain's HuggingFaceEmbeddings the chapter uses."""

    def __init__(self, model_name: str):
        self.model_name = model_name
        self.client = SentenceTransformer(model_name, device="cpu")

    def embed_query(self, text: str) -> List[float]:
        return self.client.encode(text, convert_to_numpy=True).tolist()


class _VectorStore:
    def __init__(self, path: str, collection: str):
        self.client = chromadb.PersistentClient(path=path)
        # the chapter reaches the Chroma collection through `vectorstore._collection`
        self._collection = self.client.get_or_create_collection(
            name=collection, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )


class RAGSystem:
    def __init__(self):
        self.embeddings = _Embeddings(EMBEDDINGS_MODEL)
        self.vectorstore = _VectorStore(CHROMA_DB_PATH, CHROMA_COLLECTION_NAME)

    def query(self, query: str, max_results: int = 5, threshold: float = 0.7,
              use_guardrails: bool = True, conversation_id: Optional[str] = None) -> Dict[str, Any]:
        vector = self.embeddings.embed_query(query)
        res = self.vectorstore._collection.query(
            query_embeddings=[vector],
            n_results=max_results,
            include=["documents", "metadatas", "distances"],
        )
        sources = []
        for doc, meta, dist in zip(res["documents"][0], res["metadatas"][0], res["distances"][0]):
            similarity = 1.0 - float(dist)
            if similarity >= threshold:
                md = dict(meta or {})
                md["similarity"] = similarity
                sources.append({"page_content": doc, "metadata": md})
        if sources:
            parts = []
            for n, s in enumerate(sources[:3], 1):
                first = _SENTENCE_END.split(s["page_content"].strip(), maxsplit=1)[0]
                parts.append(f"{first[:300]} [{n}]")
            answer = " ".join(parts)
            confidence = sum(s["metadata"]["similarity"] for s in sources) / len(sources)
        else:
            answer, confidence = NO_ANSWER, 0.0
        return {"answer": answer, "source_documents": sources, "confidence": confidence,
                "guardrails_triggered": []}

    async def aquery(self, **kwargs) -> Dict[str, Any]:
        if AQUERY_MODE == "inline":
            return self.query(**kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.query(**kwargs))


# --- api/main.py (section 2.1) ---------------------------------------------------------------
app = FastAPI(
    title=APP_NAME,
    description="Sistema RAG para consultas inteligentes",
    version=APP_VERSION,
    docs_url="/docs",
    redoc_url="/redoc",
)
app.start_time = time.time()
app.add_middleware(
    CORSMiddleware,
    allow_origins=ALLOWED_ORIGINS,
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)
security = HTTPBearer()
rag_system = RAGSystem()


# --- api/metrics.py (section 8.2) ------------------------------------------------------------
request_count = Counter("rag_requests_total", "Total requests to RAG API", ["method", "endpoint", "status"])
request_duration = Histogram("rag_request_duration_seconds", "Request duration in seconds", ["method", "endpoint"])
query_confidence = Histogram("rag_query_confidence", "Confidence score of RAG responses",
                             buckets=[0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0])
active_requests = Gauge("rag_active_requests", "Number of active requests")
documents_count = Gauge("rag_documents_total", "Total number of documents in database")


async def record_query_metrics(request_id: str, user_id: str, processing_time: float,
                               confidence: float, num_sources: int):
    query_confidence.observe(confidence)
    logger.info("query_metrics", request_id=request_id, user_id=user_id,
                processing_time=processing_time, confidence=confidence, num_sources=num_sources)


# --- api/auth.py (section 4.1) ---------------------------------------------------------------
class AuthManager:
    @staticmethod
    def create_access_token(data: dict, expires_delta: Optional[timedelta] = None):
        to_encode = data.copy()
        expire = datetime.utcnow() + (expires_delta or timedelta(minutes=15))
        to_encode.update({"exp": expire})
        return jwt.encode(to_encode, SECRET_KEY, algorithm=ALGORITHM)


async def verify_token(token: str) -> str:
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Token inválido",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
        user_id: str = payload.get("sub")
        if user_id is None:
            raise credentials_exception
        return user_id
    except JWTError:
        raise credentials_exception


@app.post("/auth/login")
async def login(username: str = Form(...), password: str = Form(...)):
    if hmac.compare_digest(username, API_USERNAME) and hmac.compare_digest(password, API_PASSWORD):
        access_token = AuthManager.create_access_token(
            data={"sub": username}, expires_delta=timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES)
        )
        return {"access_token": access_token, "token_type": "bearer",
                "expires_in": ACCESS_TOKEN_EXPIRE_MINUTES * 60}
    raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Credenciais inválidas")


# --- api/endpoints.py (section 2.3) ----------------------------------------------------------
@app.post("/query", response_model=QueryResponse)
async def query_rag(request: QueryRequest, background_tasks: BackgroundTasks,
                    credentials: HTTPAuthorizationCredentials = Depends(security)):
    user_id = await verify_token(credentials.credentials)
    request_id = str(uuid.uuid4())
    start_time = time.time()
    # input guardrails (the chapter's QueryValidator); a rejection stays a 400
    if request.use_guardrails:
        QueryValidator.validate_query(request.query)
    try:
        logger.info("query_received", request_id=request_id, user_id=user_id, query=request.query[:100])
        result = await rag_system.aquery(
            query=request.query,
            max_results=request.max_results,
            threshold=request.threshold,
            use_guardrails=request.use_guardrails,
            conversation_id=request.conversation_id,
        )
        processing_time = time.time() - start_time
        response = QueryResponse(
            request_id=request_id,
            query=request.query,
            answer=result["answer"],
            sources=[
                Source(content=doc["page_content"],
                       similarity=doc["metadata"].get("similarity", 0.0),
                       metadata=doc["metadata"])
                for doc in result["source_documents"]
            ],
            confidence=result.get("confidence", 0.0),
            processing_time=processing_time,
            guardrails_triggered=result.get("guardrails_triggered", []),
        )
        background_tasks.add_task(record_query_metrics, request_id=request_id, user_id=user_id,
                                  processing_time=processing_time, confidence=response.confidence,
                                  num_sources=len(response.sources))
        logger.info("query_completed", request_id=request_id, processing_time=processing_time,
                    confidence=response.confidence)
        return response
    except Exception as e:
        processing_time = time.time() - start_time
        logger.error("query_failed", request_id=request_id, error=str(e), processing_time=processing_time)
        raise HTTPException(
            status_code=500,
            detail=ErrorResponse(error="internal_error", message="Erro interno do servidor",
                                 request_id=request_id).model_dump(mode="json"),
        )


@app.get("/health", response_model=HealthResponse)
async def health_check():
    try:
        db_status = "healthy"
        try:
            if rag_system.vectorstore._collection.count() == 0:
                db_status = "empty"
        except Exception:
            db_status = "unhealthy"
        model_status = "healthy"
        try:
            if not rag_system.embeddings.embed_query("test"):
                model_status = "unhealthy"
        except Exception:
            model_status = "unhealthy"
        return HealthResponse(
            status="healthy" if db_status == "healthy" and model_status == "healthy" else "degraded",
            version=APP_VERSION,
            database_status=db_status,
            model_status=model_status,
        )
    except Exception as e:
        logger.error("health_check_failed", error=str(e))
        raise HTTPException(status_code=503, detail=ErrorResponse(
            error="service_unavailable", message="Serviço temporariamente indisponível").model_dump(mode="json"))


@app.get("/stats")
async def get_stats(credentials: HTTPAuthorizationCredentials = Depends(security)):
    await verify_token(credentials.credentials)
    try:
        return {
            "documents_count": rag_system.vectorstore._collection.count(),
            "embeddings_model": rag_system.embeddings.model_name,
            "llm_model": LLM_MODEL,
            "uptime": time.time() - app.start_time,
        }
    except Exception as e:
        logger.error("stats_failed", error=str(e))
        raise HTTPException(status_code=500, detail="Erro ao obter estatísticas")


@app.get("/metrics")
async def metrics():
    try:
        documents_count.set(rag_system.vectorstore._collection.count())
    except Exception:
        pass
    return Response(content=generate_latest(), media_type="text/plain")


# --- middlewares (sections 3.1, 8.1, 8.2), registered in the chapter's order -------------------
@app.middleware("http")
async def error_handling_middleware(request: Request, call_next):
    request_id = str(uuid.uuid4())
    request.state.request_id = request_id
    start_time = time.time()
    try:
        response = await call_next(request)
        logger.info("request_completed", request_id=request_id, method=request.method,
                    url=str(request.url), status_code=response.status_code,
                    processing_time=time.time() - start_time)
        return response
    except HTTPException as e:
        logger.warning("http_exception", request_id=request_id, status_code=e.status_code,
                       detail=e.detail, processing_time=time.time() - start_time)
        return JSONResponse(status_code=e.status_code, content={
            "error": "http_error", "message": e.detail, "request_id": request_id, "timestamp": time.time()})
    except Exception as e:
        logger.error("unexpected_error", request_id=request_id, error=str(e),
                     processing_time=time.time() - start_time)
        return JSONResponse(status_code=500, content={
            "error": "internal_error", "message": "Erro interno do servidor",
            "request_id": request_id, "timestamp": time.time()})


@app.exception_handler(RequestValidationError)
async def validation_exception_handler(request: Request, exc: RequestValidationError):
    request_id = getattr(request.state, "request_id", str(uuid.uuid4()))
    logger.warning("validation_error", request_id=request_id, errors=str(exc.errors()))
    return JSONResponse(status_code=422, content={
        "error": "validation_error", "message": "Dados de entrada inválidos",
        "details": json.loads(json.dumps(exc.errors(), default=str)),
        "request_id": request_id, "timestamp": time.time()})


@app.middleware("http")
async def logging_middleware(request: Request, call_next):
    start_time = time.time()
    request_id = getattr(request.state, "request_id", str(uuid.uuid4()))
    logger.info("request_started", request_id=request_id, method=request.method, url=str(request.url),
                user_agent=request.headers.get("user-agent"), client_ip=request.client.host)
    response = await call_next(request)
    logger.info("request_completed", request_id=request_id, status_code=response.status_code,
                processing_time=time.time() - start_time)
    return response


@app.middleware("http")
async def metrics_middleware(request: Request, call_next):
    active_requests.inc()
    start_time = time.time()
    try:
        response = await call_next(request)
        request_count.labels(method=request.method, endpoint=request.url.path,
                             status=response.status_code).inc()
        request_duration.labels(method=request.method, endpoint=request.url.path).observe(
            time.time() - start_time)
        return response
    finally:
        active_requests.dec()
