# Helper script for docs/investigations/qdq14-ort-qdq-lsb.md (not part of tfc; run with PYTHONPATH=<worktree>).
import sys, numpy as np
sys.path.insert(0,'/work/wt-qdq14')
import tfc
from tfc.interp import bind_inputs, eval_node
from tfc.feeds import to_int8, ports
from benchmarks.corpus.specs import evaluation_samples
cm=tfc.compile('/tmp/corpus-qdq/models/keras_mobilenetv2.float.qdq.onnx', target='host', input_shapes={'input':[1,96,96,3]})
ins,_=ports(cm.ir, cm.graph_before)
X=evaluation_samples((96,96,3))
def go(xi, inject=None):
    env=bind_inputs(cm.ir, xi)
    for v in cm.ir.constants.values(): env[id(v)]=v.data
    for node in cm.ir.nodes:
        res=eval_node(node,[env[id(v)] for v in node.inputs])
        if inject and node.name.endswith(inject[0]):
            r=res[0].copy(); flat=r.reshape(-1); i=inject[1]
            flat[i]=np.clip(int(flat[i])+inject[2],-128,127); res=[r]
        for v,r in zip(node.outputs,res): env[id(v)]=r
    return env[id(cm.ir.outputs[0])].astype(int)
rng=np.random.default_rng(0)
for layer in ['block_1_expand_Conv2D','block_2_add_add_0','block_8_project_Conv2D']:
    worst=[]
    for k in range(4):
        xi=to_int8([X[k][None].astype(np.float32)],ins,raw=False)
        base=go(xi)
        node=[n for n in cm.ir.nodes if n.name.endswith(layer) or n.outputs[0].name.endswith(layer)][0]
        size=node.outputs[0].type.size if hasattr(node.outputs[0].type,'size') else None
        for t in range(5):
            i=int(rng.integers(0, np.prod(node.outputs[0].shape)))
            worst.append(int(np.abs(go(xi,(node.name,i,rng.choice([-1,1])))-base).max()))
    print(layer, 'output change (LSB) from one 1-LSB flip, 20 trials:', sorted(worst))
