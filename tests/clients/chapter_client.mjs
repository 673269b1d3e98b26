// Chapter code: the RAGClient of section 7.2 ("Cliente JavaScript/TypeScript") of the
// spec (/work/shared/seed/000_32a99194aa65ad02.md), copied for the client contract test.
// Only the TypeScript types (interfaces, annotations, generics, `private`) are stripped;
// nothing else is changed. Do not "fix" it: ragd must serve this client unchanged.
// In particular, authenticate() posts a FormData body with headers
// {'Content-Type': 'application/json'} (the `headers: {}` override does not remove the
// default), so fetch sends a multipart body without a boundary parameter, labelled JSON.
// The chapter's React hook `useRAG` is left out: it needs React (`useState`).

export class RAGClient {
    constructor(baseUrl, token) {
        this.baseUrl = baseUrl.replace(/\/$/, '');
        this.token = token;
    }

    async request(
        endpoint, 
        options = {}
    ) {
        const url = `${this.baseUrl}${endpoint}`;
        
        const headers = {
            'Content-Type': 'application/json',
            ...options.headers,
        };

        if (this.token) {
            headers['Authorization'] = `Bearer ${this.token}`;
        }

        const response = await fetch(url, {
            ...options,
            headers,
        });

        if (!response.ok) {
            const error = await response.json().catch(() => ({ 
                message: response.statusText 
            }));
            throw new Error(error.message || `HTTP ${response.status}`);
        }

        return response.json();
    }

    async authenticate(username, password) {
        const formData = new FormData();
        formData.append('username', username);
        formData.append('password', password);

        const response = await this.request('/auth/login', {
            method: 'POST',
            body: formData,
            headers: {}, // Let browser set Content-Type for FormData
        });

        this.token = response.access_token;
        return this.token;
    }

    async query(request) {
        return this.request('/query', {
            method: 'POST',
            body: JSON.stringify(request),
        });
    }

    async healthCheck() {
        return this.request('/health');
    }

    async getStats() {
        return this.request('/stats');
    }
}
