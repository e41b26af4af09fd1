# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md: tfc vs onnxruntime in output LSB
# (as benchmarks/corpus judges qdq-ort files), with onnxruntime's default session and with
# session.qdqisint8allowed=1 (no QDQS8ToU8 conversion on x86: every node unit fused).
import sys, numpy as np, onnxruntime as ort
import tfc
from benchmarks.corpus.specs import evaluation_samples
name, shape = sys.argv[1], [int(s) for s in sys.argv[2].split(',')]
p=f'/tmp/corpus-qdq/models/{name}.onnx'
import onnx; inp=onnx.load(p, load_external_data=False).graph.input[0].name
cm=tfc.compile(p, target='host', input_shapes={inp:shape})
x=evaluation_samples(shape[1:])
got=np.asarray(cm.run(x[:,None]))
scale=float(np.ravel(cm.ir.outputs[0].quant.scale)[0])
for cfg in (None,'1'):
    so=ort.SessionOptions()
    if cfg: so.add_session_config_entry('session.qdqisint8allowed', cfg)
    s=ort.InferenceSession(p, so, providers=['CPUExecutionProvider'])
    want=np.stack([s.run(None,{inp:xi[None]})[0] for xi in x])
    d=np.abs(got.reshape(want.shape)-want)/scale
    print(name, 'qdqisint8allowed', cfg, 'max LSB', int(np.round(d.max())), 'samples with any diff', int((d.reshape(len(x),-1).max(1)>0.5).sum()), 'of', len(x))
