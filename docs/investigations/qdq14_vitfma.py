# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md: can onnxruntime's float MatMul
# units of vit.legacy.qdq be reproduced? dq(x), dq(w) in float32, a K-sequential fused multiply-add
# accumulation in float32 (MLAS SGEMM's order for K <= its K block), / s_y, rint, + z_y.
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper as nh
from qdq14_graph import load
from benchmarks.corpus.specs import evaluation_samples
p='/tmp/corpus-qdq/models/vit.legacy.qdq.onnx'
m, I, prod, cons, val = load(p); g = m.graph
f=np.float32
units=[n for n in g.node if n.op_type=='MatMul' and any(p_ in n.name for p_ in ('q_proj','k_proj','v_proj'))]
outs=[]
for mm in units: outs += [prod[mm.input[0]].input[0], cons[mm.output[0]][0].output[0]]
m2=onnx.load(p); [m2.graph.output.append(onnx.ValueInfoProto(name=o)) for o in outs]
s=ort.InferenceSession(m2.SerializeToString(), providers=['CPUExecutionProvider'])
X=evaluation_samples((3,32,32))
tot={'fma-seq':0,'exact':0,'numpy-f32':0,'seq-nofma':0}; n=0
for k in range(16):
    r=dict(zip(outs, s.run(outs,{'pixel_values':X[k][None]})))
    for mm in units:
        dqx,dqw=prod[mm.input[0]],prod[mm.input[1]]; q=cons[mm.output[0]][0]
        xq=r[dqx.input[0]]; yq=r[q.output[0]].astype(int)
        sx,zx=val(dqx.input[1]),val(dqx.input[2]); wq=val(dqw.input[0]); sw=val(dqw.input[1]); zw=val(dqw.input[2])
        sy,zy=f(val(q.input[1])),int(val(q.input[2]))
        x=((xq.astype(f)-f(zx))*f(sx)).astype(f)[0]; w=((wq.astype(f)-zw.astype(f))*sw.astype(f)).astype(f)
        acc=np.zeros((x.shape[0],w.shape[1]),f); acc2=np.zeros_like(acc)
        for kk in range(x.shape[1]):
            acc=(x[:,kk:kk+1].astype(np.float64)*w[kk].astype(np.float64)+acc).astype(f)   # fma: one rounding
            acc2=(f(1)*(x[:,kk:kk+1]*w[kk]).astype(f)+acc2).astype(f)                       # mul, add: two
        def q_(v): return np.clip(np.rint((v.astype(f)/sy).astype(f))+zy,-128,127).astype(int)
        exact=np.clip(np.rint((x.astype(np.float64)@w.astype(np.float64))/float(sy))+zy,-128,127).astype(int)
        for key,v in (('fma-seq',q_(acc)),('seq-nofma',q_(acc2)),('numpy-f32',q_(x@w)),('exact',exact)):
            tot[key]+=int((v!=yq[0]).sum())
        n+=yq.size
print('vit q/k/v float MatMul units, 16 samples,', n, 'outputs; outputs differing from onnxruntime per model:', tot)
