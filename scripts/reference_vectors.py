#!/usr/bin/env python3
"""Reference embeddings from sentence-transformers for ragd's backend tests.

Usage: scripts/reference_vectors.py [MODEL_DIR] [OUT_JSON]
  MODEL_DIR defaults to models/all-MiniLM-L6-v2
  OUT_JSON  defaults to crates/ragd-backends/tests/fixtures/reference_vectors.json

Needs: sentence-transformers (and its torch/transformers). Runs on CPU. Each
fixture text is embedded with normalize_embeddings=True (mean pooling over the
first max_seq_length=256 wordpieces, L2 normalised) and written with its
untruncated wordpiece count ([CLS] and [SEP] included) so tests can tell which
texts hit the 256-token truncation.
"""
import json
import os
import sys

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LONG_EN_1 = (
    "Retrieval-augmented generation combines a search step with a language model. "
    "Before the model answers, the system looks up passages that are likely to contain the facts it needs, "
    "and it places those passages in the prompt. The quality of the final answer therefore depends heavily "
    "on the quality of the retrieval step. Dense retrieval represents every passage as a vector produced by "
    "an embedding model, and it represents the question the same way; the passages whose vectors are closest "
    "to the question's vector, usually by cosine similarity, are returned. Sparse retrieval, such as BM25, "
    "instead counts overlapping terms and weighs rare terms more than common ones. Each approach fails in "
    "different ways: dense retrieval can miss exact identifiers, part numbers and unusual names, while sparse "
    "retrieval misses paraphrases and synonyms. Hybrid systems run both and merge the ranked lists, for "
    "example with reciprocal rank fusion, which adds up one over the rank plus a constant for every list in "
    "which a document appears. Chunking matters too. Passages that are too long dilute the signal, because "
    "the embedding of a long passage is an average over many topics; passages that are too short lose the "
    "context that makes them meaningful. Many systems split documents into windows of a few hundred tokens "
    "with some overlap, and they keep the document title and section heading with every chunk so that the "
    "chunk still makes sense on its own. Finally, evaluation should use real questions from real users, with "
    "the passages that actually answer them marked by hand, because synthetic benchmarks tend to reward "
    "whatever shortcut the benchmark's author happened to take."
)

LONG_EN_2 = (
    "The lighthouse keeper climbed the spiral staircase every evening at dusk, one hundred and "
    "twelve iron steps worn smooth by a century of boots. At the top he trimmed the wick, polished the great "
    "lens until the brass fittings shone, and wound the clockwork that turned the light. Ships passing the "
    "headland saw a white flash every ten seconds, and from that rhythm alone an experienced captain knew "
    "exactly which coast he was approaching. In winter the storms came from the north-west. Waves broke over "
    "the rocks below with a sound like distant artillery, spray reached the gallery windows, and the whole "
    "tower hummed in the wind. On such nights the keeper did not sleep at all; he sat beside the stove with "
    "a pot of strong tea, writing the weather into the logbook every hour: wind force, direction, visibility, "
    "the state of the sea. Sometimes a fishing boat would be caught out, and he would watch its lights "
    "rising and falling among the swells until it reached the shelter of the harbour. In spring the seabirds "
    "returned to nest on the cliffs, thousands of them, and the air was full of their cries. The supply boat "
    "came once a fortnight with flour, paraffin, letters and newspapers that were already a week old. He "
    "read every page, even the advertisements, and then used the paper to light the stove. When the light "
    "was finally automated, the keeper was given a small pension and a cottage in the village, but for the "
    "rest of his life he woke at dusk and looked out towards the headland to check that the beam was still "
    "turning."
)

LONG_PT_1 = (
    "A geração aumentada por recuperação combina uma etapa de busca com um modelo de linguagem. Antes de "
    "responder, o sistema procura trechos que provavelmente contêm as informações necessárias e os coloca no "
    "contexto da pergunta. Por isso, a qualidade da resposta final depende muito da qualidade da recuperação. "
    "Na recuperação densa, cada trecho é representado por um vetor calculado por um modelo de embeddings, e a "
    "pergunta é representada da mesma forma; os trechos cujos vetores estão mais próximos do vetor da "
    "pergunta, normalmente pela similaridade de cosseno, são devolvidos. Na recuperação esparsa, como o BM25, "
    "contam-se os termos em comum e os termos raros recebem peso maior do que os comuns. Cada abordagem falha "
    "de um jeito diferente: a busca densa pode perder identificadores exatos, códigos de peças e nomes "
    "incomuns, enquanto a busca esparsa não reconhece paráfrases nem sinônimos. Sistemas híbridos executam as "
    "duas e juntam as listas ordenadas, por exemplo com a fusão por posição recíproca. A divisão dos "
    "documentos também é importante: trechos longos demais diluem o sinal, e trechos curtos demais perdem o "
    "contexto que lhes dá sentido."
)

LONG_PT_2 = (
    "Na pequena cidade do interior de Minas Gerais, a feira acontecia todo sábado de manhã, na praça em frente "
    "à igreja matriz. Às cinco horas os feirantes já montavam as barracas de lona colorida: dona Conceição "
    "com seus queijos curados e requeijão de corte, seu Joaquim com as bananas, mangas e jabuticabas trazidas "
    "do sítio, a família Oliveira com pão de queijo ainda quente, broa de fubá e doce de leite em tabletes. "
    "O cheiro de café coado no pano se espalhava pela praça inteira. Os fregueses chegavam cedo, conversavam "
    "sobre a chuva que não vinha, sobre o preço do feijão, sobre o casamento da filha do prefeito, e voltavam "
    "para casa com sacolas cheias e as últimas notícias da cidade. As crianças corriam entre as barracas "
    "pedindo pastel e caldo de cana. Ao meio-dia, quando o sol ficava forte demais, as lonas eram dobradas, "
    "os caixotes empilhados nas caminhonetes, e a praça voltava ao silêncio de sempre até o sábado seguinte."
)

TEXTS = [
    # single words
    "cat",
    "casa",
    "Embedding",
    "ação",
    # short sentences, English
    "The cat sat on the mat.",
    "How do I reset my password?",
    "A man is playing a guitar on the street.",
    "Rust's ownership model prevents data races at compile time.",
    # short sentences, Brazilian Portuguese
    "O gato está dormindo no sofá.",
    "Como faço para redefinir minha senha?",
    "São Paulo é a maior cidade do Brasil, com mais de 11 milhões de habitantes.",
    "Você já experimentou pão de queijo com café coado?",
    # punctuation / unicode / numbers / urls
    "Héllo, wörld! Ça va? Ñandú, façade, naïve café.",
    "Coração, ação, informação, pão, mãe, avó e avô.",
    "I love pizza 🍕🍕 and coffee ☕ — really! 😀👍",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    "See https://docs.rs/tokenizers/latest/tokenizers/ or mail admin@example.com for help.",
    "Order #4521: 3 x 19.99 USD = 59.97 USD, due 2024-03-15 at 14:30 UTC (+/- 0.5%).",
    "   leading and trailing   whitespace\tand\ttabs\nand newlines   ",
    "!!! ??? ... --- ### @@@ $$$ %%% ^^^ &&& *** ((( ))) [[[ ]]]",
    "x = [i ** 2 for i in range(10) if i % 2 == 0]  # list comprehension",
    "R$ 1.234,56 — preço à vista; 10× de R$ 123,46 sem juros!",
    # medium paragraphs
    "Sentence embeddings map a piece of text to a fixed-size vector so that texts with similar meaning end "
    "up close to each other. They are used for semantic search, clustering, deduplication and as the "
    "retrieval stage of question answering systems.",
    "Os embeddings de frases transformam um texto em um vetor de tamanho fixo, de modo que textos com "
    "significados parecidos fiquem próximos. Eles são usados em busca semântica, agrupamento e deduplicação.",
    # long paragraphs (> 256 wordpieces: exercises truncation)
    LONG_EN_1,
    LONG_EN_2,
    LONG_PT_1,
    LONG_PT_2,
]


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        ROOT, "crates", "ragd-backends", "tests", "fixtures", "reference_vectors.json")
    torch.manual_seed(0)
    model = SentenceTransformer(model_dir, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    tok = model.tokenizer
    counts = [len(tok(t, add_special_tokens=True, truncation=False)["input_ids"]) for t in TEXTS]
    long_ = sum(c > 256 for c in counts)
    assert long_ >= 3, f"need >= 3 texts over 256 tokens, have {long_}"
    # one text per call: no padding interplay, exactly what a single-text request sees
    vecs = [model.encode([t], normalize_embeddings=True, convert_to_numpy=True)[0] for t in TEXTS]
    items = []
    for t, c, v in zip(TEXTS, counts, vecs):
        assert v.shape == (384,)
        items.append({"text": t, "tokens": c, "vector": [round(float(x), 7) for x in v]})
        print(f"{c:4d} tokens{' (truncated to 256)' if c > 256 else ''}: {t[:60]!r}")
    doc = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "generator": (f"scripts/reference_vectors.py; sentence-transformers {sentence_transformers.__version__}, "
                      f"torch {torch.__version__}, transformers {transformers.__version__}; "
                      "device cpu, normalize_embeddings=True"),
        "max_seq_length": model.max_seq_length,
        "items": items,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(items)} items to {out}")


if __name__ == "__main__":
    main()
