import onnx, onnxruntime as ort, collections, copy, sys
p=sys.argv[1]; m=onnx.load(p); g=m.graph
cons=collections.defaultdict(list)
for n in g.node:
    for i in n.input: cons[i].append(n)
new=[]; k=0
for n in list(g.node):
    new.append(n)
    if n.op_type=='DequantizeLinear' and len(cons[n.output[0]])>1:
        for c in cons[n.output[0]][1:]:
            d=copy.deepcopy(n); k+=1; d.name+=f'_dup{k}'; d.output[0]+=f'_dup{k}'
            for j,i in enumerate(c.input):
                if i==n.output[0]: c.input[j]=d.output[0]
            new.append(d)
del g.node[:]; g.node.extend(new)
onnx.save(m,'/tmp/dup.onnx')
so=ort.SessionOptions(); so.optimized_model_filepath='/tmp/dup_opt.onnx'
ort.InferenceSession('/tmp/dup.onnx', so, providers=['CPUExecutionProvider'])
print('duplicated',k, dict(collections.Counter(n.op_type for n in onnx.load('/tmp/dup_opt.onnx').graph.node)))
