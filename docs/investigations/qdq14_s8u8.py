import onnx, onnxruntime as ort, collections, sys
p=sys.argv[1]
for cfg in (None, '1', '0'):
    so=ort.SessionOptions(); so.optimized_model_filepath='/tmp/o.onnx'
    if cfg: so.add_session_config_entry('session.qdqisint8allowed', cfg)
    ort.InferenceSession(p, so, providers=['CPUExecutionProvider'])
    m=onnx.load('/tmp/o.onnx'); c=collections.Counter(n.op_type for n in m.graph.node)
    vi={v.name:v.type.tensor_type.elem_type for v in list(m.graph.value_info)+list(m.graph.initializer and [])}
    inits={t.name:t.data_type for t in m.graph.initializer}
    zt=collections.Counter(inits.get(n.input[2]) for n in m.graph.node if n.op_type=='QuantizeLinear' and len(n.input)>2)
    print('qdqisint8allowed', cfg, {k:c[k] for k in ('QLinearConv','Conv','QLinearMatMul','MatMul','Add','QLinearAdd')}, 'Q zero-point dtypes (2=u8,3=s8):', dict(zt))
