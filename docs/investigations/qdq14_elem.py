# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md (not part of tfc; run with PYTHONPATH=<worktree>).
import numpy as np, onnx, onnxruntime as ort, sys
sys.path.insert(0,'/work/wt-qdq14')
from onnx import numpy_helper as nh
from benchmarks.corpus.specs import evaluation_samples
p='/tmp/corpus-qdq/models/keras_mobilenetv2.float.qdq.onnx'
m=onnx.load(p); g=m.graph; I={t.name:nh.to_array(t) for t in g.initializer}
prod={o:n for n in g.node for o in n.output}
conv=[n for n in g.node if n.name.endswith('block_1_expand/Conv2D')][0]
dqx,dqw,dqb=[prod[i] for i in conv.input]
q=[n for n in g.node if n.op_type=='QuantizeLinear' and n.input[0]==conv.output[0]] or None
# Relu6 between? follow
cons={}
for n in g.node:
    for i in n.input: cons.setdefault(i,[]).append(n)
nxt=cons[conv.output[0]][0]; print('after conv', nxt.op_type)
while nxt.op_type!='QuantizeLinear': nxt=cons[nxt.output[0]][0]; print(' ->',nxt.op_type)
qn=nxt
outs=[dqx.input[0], qn.output[0]]
for o in outs: g.output.append(onnx.ValueInfoProto(name=o))
s=ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])
x=evaluation_samples((96,96,3))[1][None]
xq,yq=s.run(outs,{'input':x})
sx=np.float32(I[dqx.input[1]]); zx=int(I[dqx.input[2]])
W=I[dqw.input[0]].astype(np.int64); sw=I[dqw.input[1]].astype(np.float32)
B=I[dqb.input[0]].astype(np.int64)
sy=np.float32(I[qn.input[1]]); zy=int(I[qn.input[2]])
print('shapes', xq.shape, W.shape, yq.shape, 'zx',zx,'zy',zy, 'sy', sy)
acc=np.einsum('nchw,oc->nohw', xq.astype(np.int64)-zx, W[:,:,0,0])+B[None,:,None,None]
sc=((sx*sw)/sy).astype(np.float32)
v=(acc.astype(np.float32)*sc[None,:,None,None]).astype(np.float32)
lo=np.float32(-128-zy); hi=np.float32(127-zy)
mine=np.rint(np.clip(v,lo,hi))+zy
d=np.argwhere(mine!=yq)
print('diffs', len(d))
for idx in d[:5]:
    idx=tuple(idx); print(idx, 'acc', acc[idx], 'v', repr(v[idx]), 'frac', v[idx]-np.floor(v[idx]), 'mine', mine[idx], 'ort', yq[idx])
# float path as ORT float conv would: dequant and divide
idx=tuple(d[0]); c=idx[1]; a=acc[idx]
f=np.float32
print('exact64', a*float(sx)*float(sw[c])/float(sy))
print('A (sx*sw)/sy', f(a)*f(f(sx*sw[c])/sy))
print('B sx*(sw/sy)', f(a)*f(sx*f(sw[c]/sy)))
print('C (a*sx*sw)/sy', f(f(f(a)*f(sx*sw[c]))/sy))
print('D a*(sx*sw)*(1/sy)', f(f(f(a)*f(sx*sw[c]))*f(f(1)/sy)))
print('E (sw*sx)/sy via float64', f(a)*f(float(sx)*float(sw[c])/float(sy)))
a0=a-B[c]
print('F ((a*sx)*sw)/sy', f(f(f(f(a)*sx)*sw[c])/sy))
print('G a*sx*(sw/sy)', f(f(f(a)*sx)*f(sw[c]/sy)))
print('H (a0+b)f*scale', f(f(f(a0)+f(B[c]))*f(f(sx*sw[c])/sy)))
print('I a/(sy/(sx*sw))', f(f(a)/f(sy/f(sx*sw[c]))))
print('J a*(sx/sy)*sw', f(f(f(a)*f(sx/sy))*sw[c]))
print('K a*(sw*(sx/sy))', f(f(a)*f(sw[c]*f(sx/sy))))
print('vals', repr(sx), repr(sw[c]), repr(sy), a, B[c])
