# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md (not part of tfc; run with PYTHONPATH=<worktree>).
# Every Conv/Add node of the QDQ model run in isolation: tfc's int8 node on onnxruntime's own int8
# inputs, against onnxruntime's int8 output; split by whether onnxruntime fused the node unit.
import sys, numpy as np, onnx, onnxruntime as ort
import tfc
from tfc.interp import eval_node
from benchmarks.corpus.specs import evaluation_samples
name, shape, nsamp = sys.argv[1], [int(s) for s in sys.argv[2].split(',')], int(sys.argv[3])
p=f'/tmp/corpus-qdq/models/{name}.onnx'
so=ort.SessionOptions(); so.optimized_model_filepath='/tmp/opt.onnx'
ort.InferenceSession(p, so, providers=['CPUExecutionProvider'])
floats={n.name for n in onnx.load('/tmp/opt.onnx').graph.node if n.op_type in ('Conv','Add','MatMul')}
m=onnx.load(p); g=m.graph; inp=g.input[0].name
prod={o:n for n in g.node for o in n.output}
cons={}
for n in g.node:
    for i in n.input: cons.setdefault(i,[]).append(n)
units=[]
for n in g.node:
    if n.op_type not in ('Conv','Add','MatMul','Gemm'): continue
    c=cons.get(n.output[0],[])
    if len(c)!=1 or c[0].op_type!='QuantizeLinear': continue
    xs=[prod[i].input[0] for i in n.input if i in prod and prod[i].op_type=='DequantizeLinear' and prod[i].input[0] in prod]
    units.append((n, xs, c[0].output[0]))
need=sorted({t for _,xs,q in units for t in (*xs,q)})
for o in need: g.output.append(onnx.ValueInfoProto(name=o))
s=ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])
cm=tfc.compile(p, target='host', input_shapes={inp:shape})
tn={n.name:n for n in cm.ir.nodes}
X=evaluation_samples(shape[1:])
stat={}
for k in range(nsamp):
    r=dict(zip(need, s.run(need,{inp:X[k][None]})))
    for n,xs,q in units:
        t=tn.get(n.name.lstrip('/').replace('/','_'))
        if t is None: continue
        acts=[v for v in t.inputs if not v.is_constant]
        if len(acts)!=len(xs): continue
        tin=[]; ok=True
        for v,x in zip(acts,xs):
            a=r[x]
            if tuple(a.shape)!=tuple(v.shape) and a.ndim==4 and tuple(a.transpose(0,2,3,1).shape)==tuple(v.shape): a=a.transpose(0,2,3,1)
            ok&=tuple(a.shape)==tuple(v.shape); tin.append(a)
        if not ok: continue
        args=[]; it=iter(tin)
        for v in t.inputs: args.append(v.data if v.is_constant else next(it))
        y=eval_node(t,args)[0].astype(int); want=r[q]
        if tuple(want.shape)!=tuple(y.shape): want=want.transpose(0,2,3,1)
        d=(y!=want.astype(int)); e=stat.setdefault(n.name,[n.op_type,n.name in floats,0,0,0])
        e[2]+=int(d.sum()); e[3]+=d.size; e[4]=max(e[4],int(np.abs(y-want).max()))
agg={}
for nm,(op,fl,dn,tot,mx) in stat.items():
    key=(op,'float in ort' if fl else 'fused in ort'); a=agg.setdefault(key,[0,0,0,0]); a[0]+=1; a[1]+=dn; a[2]+=tot; a[3]=max(a[3],mx)
    if dn: print(f'{nm}: {op} {"float" if fl else "fused"} {dn} of {tot} differ, max {mx}')
for k,(cnt,dn,tot,mx) in agg.items(): print(k, f'{cnt} nodes: {dn} of {tot} outputs differ (max {mx} LSB) over {nsamp} samples')
print('units not compared:', len(units)-len(stat))
