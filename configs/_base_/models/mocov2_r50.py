# MoCo v2 (Chen et al. 2020): MoCo v1 with an MLP projection head and tau 0.2.
_base_ = './mocov1_r50.py'
model = dict(
    neck=dict(_delete_=True, type='MLPNeck', in_channels=2048, hidden_channels=2048,
              out_channels=128),
    head=dict(temperature=0.2),
)
