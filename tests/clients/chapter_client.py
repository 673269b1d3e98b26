# Chapter code, copied verbatim from section 7.1 ("Cliente Python") of the spec
# (/work/shared/seed/000_32a99194aa65ad02.md) for the client contract test.
# Do not "fix" it: ragd must serve this client unchanged.
# clients/python_client.py
import requests
import json
from typing import Dict, List, Optional
from dataclasses import dataclass
from datetime import datetime

@dataclass
class RAGResponse:
    answer: str
    sources: List[Dict]
    confidence: float
    processing_time: float
    request_id: str

class RAGClient:
    """Cliente Python para a API RAG"""
    
    def __init__(self, base_url: str, api_key: Optional[str] = None):
        self.base_url = base_url.rstrip('/')
        self.session = requests.Session()
        
        if api_key:
            self.session.headers.update({
                'Authorization': f'Bearer {api_key}'
            })
    
    def authenticate(self, username: str, password: str) -> str:
        """Autentica e retorna token"""
        
        response = self.session.post(
            f"{self.base_url}/auth/login",
            data={"username": username, "password": password}
        )
        response.raise_for_status()
        
        token_data = response.json()
        token = token_data["access_token"]
        
        # Atualizar headers com token
        self.session.headers.update({
            'Authorization': f'Bearer {token}'
        })
        
        return token
    
    def query(
        self, 
        query: str, 
        max_results: int = 5,
        threshold: float = 0.7,
        use_guardrails: bool = True,
        conversation_id: Optional[str] = None
    ) -> RAGResponse:
        """Realiza consulta RAG"""
        
        payload = {
            "query": query,
            "max_results": max_results,
            "threshold": threshold,
            "use_guardrails": use_guardrails
        }
        
        if conversation_id:
            payload["conversation_id"] = conversation_id
        
        response = self.session.post(
            f"{self.base_url}/query",
            json=payload
        )
        response.raise_for_status()
        
        data = response.json()
        
        return RAGResponse(
            answer=data["answer"],
            sources=data["sources"],
            confidence=data["confidence"],
            processing_time=data["processing_time"],
            request_id=data["request_id"]
        )
    
    def health_check(self) -> Dict:
        """Verifica saúde do serviço"""
        
        response = self.session.get(f"{self.base_url}/health")
        response.raise_for_status()
        
        return response.json()

# Exemplo de uso
if __name__ == "__main__":
    client = RAGClient("http://localhost:8000")
    
    # Autenticar
    client.authenticate("admin", "password")
    
    # Fazer consulta
    result = client.query("O que é machine learning?")
    
    print(f"Resposta: {result.answer}")
    print(f"Confiança: {result.confidence}")
    print(f"Fontes: {len(result.sources)}")
