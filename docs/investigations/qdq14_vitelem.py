# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md: vit.legacy.qdq layer-1 k_proj/v_proj,
# the exact value (float64) of onnxruntime's float MatMul unit at the elements where tfc differs.
import sys, numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper as nh
from qdq14_graph import load
import tfc
from tfc.interp import run
from tfc.feeds import to_int8, ports
from benchmarks.corpus.specs import evaluation_samples
p='/tmp/corpus-qdq/models/vit.legacy.qdq.onnx'
m, I, prod, cons, val = load(p); g = m.graph
cm=tfc.compile(p, target='host', input_shapes={'pixel_values':[1,3,32,32]})
ins,_=ports(cm.ir, cm.graph_before)
X=evaluation_samples((3,32,32))
for k,proj in ((6,'k_proj'),(12,'v_proj')):
    mm=[n for n in g.node if n.name==f'/model/vit/layers.1/attention/{proj}/MatMul'][0]
    dqx,dqw=prod[mm.input[0]],prod[mm.input[1]]; q=cons[mm.output[0]][0]
    outs=[dqx.input[0], q.output[0]]
    mm2=onnx.load(p); [mm2.graph.output.append(onnx.ValueInfoProto(name=o)) for o in outs]
    s=ort.InferenceSession(mm2.SerializeToString(), providers=['CPUExecutionProvider'])
    xq,yq=s.run(outs,{'pixel_values':X[k][None]})
    sx,zx=val(dqx.input[1]),val(dqx.input[2]); wq=val(dqw.input[0]); sw=val(dqw.input[1]); zw=val(dqw.input[2]) if len(dqw.input)>2 else 0
    sy,zy=val(q.input[1]),val(q.input[2])
    x=(xq.astype(np.float64)-zx)*float(sx); w=(wq.astype(np.float64)-zw)*sw.astype(np.float64)
    exact=(x@w)/float(sy)
    f32=((xq.astype(np.float32)-np.float32(zx))*np.float32(sx))@((wq.astype(np.float32)-np.float32(zw))*sw.astype(np.float32))
    env=run(cm.ir, to_int8([X[k][None].astype(np.float32)], ins, raw=False), keep=True)
    cand=[kk for kk in env if proj in kk and 'layers_1' in kk.replace('.','_') and 'MatMul' in kk]
    mine=np.rint(exact)+zy
    d=np.argwhere(np.clip(mine,-128,127)!=yq)
    print(proj, 'sample',k,'scale sx',sx,'sw shape',np.shape(sw),'sy',sy,'ORT vs exact-rounded diffs',len(d))
    for idx in d[:3]:
        idx=tuple(idx); print('  ', idx, 'exact/s_y', repr(exact[idx]), 'ort', yq[idx]-zy, 'fp32 dot/s_y', repr(np.float32(f32[idx])/np.float32(sy)))
    near=np.abs(exact-np.floor(exact)-0.5)
    print('   elements within 1e-4 of a tie:', int((near<1e-4).sum()), 'of', exact.size)
