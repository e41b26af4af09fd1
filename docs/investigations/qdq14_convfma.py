# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md: can onnxruntime's float (unfused)
# 1x1 Conv units of keras_mobilenetv2.float.qdq be reproduced by float32 dequantized operands with a
# Cin-sequential fused multiply-add (bias first or last), / s_y, rint, + z_y?
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper as nh
from benchmarks.corpus.specs import evaluation_samples
p='/tmp/corpus-qdq/models/keras_mobilenetv2.float.qdq.onnx'
so=ort.SessionOptions(); so.optimized_model_filepath='/tmp/opt_k.onnx'
ort.InferenceSession(p, so, providers=['CPUExecutionProvider'])
floats={n.name for n in onnx.load('/tmp/opt_k.onnx').graph.node if n.op_type=='Conv'}
m=onnx.load(p); g=m.graph; I={t.name:nh.to_array(t) for t in g.initializer}
prod={o:n for n in g.node for o in n.output}
cons={}
for n in g.node:
    for i in n.input: cons.setdefault(i,[]).append(n)
f=np.float32
units=[n for n in g.node if n.op_type=='Conv' and n.name in floats]
outs=[]
for c in units: outs += [prod[c.input[0]].input[0], cons[c.output[0]][0].output[0]]
m2=onnx.load(p); [m2.graph.output.append(onnx.ValueInfoProto(name=o)) for o in dict.fromkeys(outs)]
s=ort.InferenceSession(m2.SerializeToString(), providers=['CPUExecutionProvider'])
X=evaluation_samples((96,96,3))
tot={'fma bias first':0,'fma bias last':0,'exact':0}; n=0
for k in range(16):
    r=dict(zip([o.name for o in s.get_outputs()], s.run(None,{'input':X[k][None]})))
    for c in units:
        dqx,dqw,dqb=[prod[i] for i in c.input]; q=cons[c.output[0]][0]
        xq=r[dqx.input[0]][0]; yq=r[q.output[0]][0].astype(int)
        sx,zx=f(I[dqx.input[1]]),f(I[dqx.input[2]]); wq=I[dqw.input[0]][:,:,0,0]; sw=I[dqw.input[1]].astype(f)
        b=(I[dqb.input[0]].astype(f)*I[dqb.input[1]].astype(f)).astype(f)
        sy,zy=f(I[q.input[1]]),int(I[q.input[2]])
        x=((xq.astype(f)-zx)*sx).astype(f).reshape(xq.shape[0],-1); w=(wq.astype(f)*sw[:,None]).astype(f)
        a1=np.repeat(b[:,None],x.shape[1],1).astype(f); a2=np.zeros_like(a1)
        for kk in range(x.shape[0]):
            a1=(w[:,kk:kk+1].astype(np.float64)*x[kk].astype(np.float64)+a1).astype(f)
            a2=(w[:,kk:kk+1].astype(np.float64)*x[kk].astype(np.float64)+a2).astype(f)
        a2=(a2+b[:,None]).astype(f)
        def q_(v): return np.clip(np.rint((v.astype(f)/sy).astype(f))+zy,-128,127).astype(int)
        ex=w.astype(np.float64)@x.astype(np.float64)+b[:,None]
        want=yq.reshape(yq.shape[0],-1)
        for key,v in (('fma bias first',q_(a1)),('fma bias last',q_(a2)),('exact',np.clip(np.rint(ex/float(sy))+zy,-128,127).astype(int))):
            tot[key]+=int((v!=want).sum())
        n+=want.size
print('keras_mobilenetv2 float 1x1 Conv units:', len(units), 'x 16 samples,', n, 'outputs; differing from onnxruntime:', tot)
