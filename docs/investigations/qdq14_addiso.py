# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md (not part of tfc; run with PYTHONPATH=<worktree>).
import sys, numpy as np, onnx, onnxruntime as ort
sys.path.insert(0,'/work/wt-qdq14')
import tfc
from tfc.interp import eval_node
from benchmarks.corpus.specs import evaluation_samples
p='/tmp/corpus-qdq/models/keras_mobilenetv2.float.qdq.onnx'
m=onnx.load(p); g=m.graph
prod={o:n for n in g.node for o in n.output}
cons={}
for n in g.node:
    for i in n.input: cons.setdefault(i,[]).append(n)
adds=[n for n in g.node if n.op_type=='Add']
need=[]
for a in adds:
    ins=[prod[i].input[0] for i in a.input]; q=cons[a.output[0]][0].output[0]; need+= [*ins,q]
for o in need: g.output.append(onnx.ValueInfoProto(name=o))
s=ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])
cm=tfc.compile(p, target='host', input_shapes={'input':[1,96,96,3]})
tn={n.name:n for n in cm.ir.nodes}
X=evaluation_samples((96,96,3))
tot=0; diff=0
for k in range(8):
    r=dict(zip(need, s.run(need,{'input':X[k][None]})))
    for a in adds:
        t=tn[a.name.replace('/','_')]
        ins=[r[prod[i].input[0]] for i in a.input]; q=r[cons[a.output[0]][0].output[0]]
        shp=t.inputs[0].shape
        tin=[x.transpose(0,2,3,1) if tuple(x.shape)!=tuple(shp) else x for x in ins]
        y=eval_node(t,tin)[0].astype(int)
        qq=q.transpose(0,2,3,1) if tuple(q.shape)!=tuple(y.shape) else q
        d=np.abs(y-qq.astype(int)); tot+=d.size; diff+=(d>0).sum()
        if k==0: print(a.name.split('/')[-2], 'isolated tfc add vs ort float add: diffs', int((d>0).sum()), 'max', d.max(), 'of', d.size)
print('all adds, 8 samples:', diff, 'of', tot)
