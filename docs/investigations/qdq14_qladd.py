# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md: which float arithmetic reproduces
# onnxruntime's fused QLinearAdd (session.qdqisint8allowed=1) on every Add of a QDQ model.
import sys, numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper as nh
from benchmarks.corpus.specs import evaluation_samples
name, shape = sys.argv[1], [int(s) for s in sys.argv[2].split(',')]
p=f'/tmp/corpus-qdq/models/{name}.onnx'
m=onnx.load(p); g=m.graph; I={t.name:nh.to_array(t) for t in g.initializer}; inp=g.input[0].name
prod={o:n for n in g.node for o in n.output}
cons={}
for n in g.node:
    for i in n.input: cons.setdefault(i,[]).append(n)
adds=[n for n in g.node if n.op_type=='Add' and all(i in prod and prod[i].op_type=='DequantizeLinear' for i in n.input)]
outs=[]
for a in adds: outs += [prod[i].input[0] for i in a.input] + [cons[a.output[0]][0].output[0]]
outs=list(dict.fromkeys(outs))
[m.graph.output.append(onnx.ValueInfoProto(name=o)) for o in outs]
so=ort.SessionOptions(); so.add_session_config_entry('session.qdqisint8allowed','1')
s=ort.InferenceSession(m.SerializeToString(), so, providers=['CPUExecutionProvider'])
X=evaluation_samples(shape[1:]); f=np.float32
def v(name):
    return I[name] if name in I else nh.to_array(prod[name].attribute[0].t)
tot={}; n=0
for k in range(16):
    r=dict(zip(outs, s.run(outs,{inp:X[k][None]})))
    for a in adds:
        da,db=[prod[i] for i in a.input]; q=cons[a.output[0]][0]
        A=r[da.input[0]].astype(f); B=r[db.input[0]].astype(f); Y=r[q.output[0]].astype(int)
        sa,za=f(v(da.input[1])),f(v(da.input[2])); sb,zb=f(v(db.input[1])),f(v(db.input[2])); sy,zy=f(v(q.input[1])),f(v(q.input[2]))
        ra,rb=f(sa/sy),f(sb/sy)
        def c(x): return np.clip(x,-128,127).astype(int)
        cands={
          'ratio mul-add, +zy, rint': c(np.rint(((A-za)*ra+(B-zb)*rb).astype(f)+zy)),
          'ratio fma(a, ra, b*rb)': c(np.rint((((A-za).astype(np.float64)*ra+((B-zb)*rb).astype(f)).astype(f))+zy)),
          'ratio fma(b, rb, a*ra)': c(np.rint((((B-zb).astype(np.float64)*rb+((A-za)*ra).astype(f)).astype(f))+zy)),
          'dequant add / sy': c(np.rint((((A-za)*sa+(B-zb)*sb).astype(f)/sy).astype(f))+zy),
          'exact': c(np.rint(((A-za).astype(np.float64)*float(sa)+(B-zb).astype(np.float64)*float(sb))/float(sy))+zy),
        }
        for key,val in cands.items(): tot[key]=tot.get(key,0)+int((val!=Y).sum())
        n+=Y.size
print(name, len(adds), 'QLinearAdd units x 16 samples,', n, 'outputs; differing from onnxruntime:', tot)
