import sys, numpy as np, onnx, onnxruntime as ort
sys.path.insert(0, '/work/wt-qdq14')
import tfc
from tfc.interp import run
from benchmarks.corpus.specs import evaluation_samples
name=sys.argv[1]; shape=tuple(int(s) for s in sys.argv[2].split(','))
path=f'/tmp/corpus-qdq/models/{name}.onnx'
m=onnx.load(path)
inp=m.graph.input[0].name
qouts=[o for n in m.graph.node if n.op_type=='QuantizeLinear' for o in n.output]
qset=set(qouts)
have={o.name for o in m.graph.output}
for o in qouts:
    if o not in have: m.graph.output.append(onnx.helper.make_empty_tensor_value_info(o) if False else onnx.ValueInfoProto(name=o))
import os
so=ort.SessionOptions()
if os.environ.get("INT8OK"): so.add_session_config_entry("session.qdqisint8allowed","1")
sess=ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
names=[o.name for o in sess.get_outputs()]
cm=tfc.compile(path, target='host', input_shapes={inp:list(shape)})
tnames={v.name: v for v in cm.ir.values()}
x=evaluation_samples(shape[1:])
nsamp=int(sys.argv[3]) if len(sys.argv)>3 else 4
# map onnx Q output -> tfc value name: try name of Q input tensor (the float tensor)
prodn={o:n for n in m.graph.node for o in n.output}
qin={n.output[0]: n.input[0] for n in m.graph.node if n.op_type=='QuantizeLinear'}
def tname(s): return s.lstrip('/').replace('/','_').replace(':','_')
order=[]; bad={}
for s in range(nsamp):
    r=dict(zip(names, sess.run(None,{inp:x[s][None]})))
    from tfc.feeds import to_int8, ports
    ins,_=ports(cm.ir, cm.graph_before)
    xi=to_int8([x[s][None].astype(np.float32)], ins, raw=False)
    env=run(cm.ir, xi, keep=True)
    if s==0: print('in shape', xi[0].shape, cm.ir.inputs[0].shape)
    if s==0:
        cands={}
        for q in qouts:
            pn=prodn.get(qin[q]); alts=[]
            while pn is not None:
                alts.append(tname(pn.name)); pn=prodn.get(pn.input[0]) if pn.op_type in ('Relu','Clip') else None
            for c in (tname(qin[q]), tname(q), qin[q], q, *alts):
                if c in env: cands[q]=c; break
        print('mapped', len(cands), 'of', len(qouts)); missing=[q for q in qouts if q not in cands]; print('unmapped sample', missing[:5]); print('tfc names sample', list(env)[:8])
    for q in qouts:
        if q not in cands: continue
        a=r[q].astype(np.int32); b=np.asarray(env[cands[q]])
        v=tnames[cands[q]]
        if b.dtype.kind=='f' and v.quant is not None:
            sc=np.asarray(v.quant.scale); zp=np.asarray(v.quant.zero_point)
            b=np.round(b/sc+zp)  # fake-quant
        b=b.astype(np.int32)
        if a.size!=b.size: print('size mismatch',q,a.shape,b.shape); continue
        ds=[np.abs(a.reshape(-1)-b.reshape(-1))]
        if b.ndim==4 and b.transpose(0,3,1,2).size==a.size: ds.append(np.abs(a.reshape(-1)-b.transpose(0,3,1,2).reshape(-1)))
        d=min(ds,key=lambda d:(d>0).sum())
        if s>0 and d.max()>0 and q not in order: order.append(q); bad[q]=(a.reshape(-1), d)
        print(s, q[:70], 'max', d.max(), 'n>0', int((d>0).sum()), 'of', d.size)
