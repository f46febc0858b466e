# Old name of the config below, kept as an alias: it loads that config unchanged and the
# tools log "config <this file> was renamed to <new file>".
_base_ = './mocov2_r50_8xb32-coslr-200e_in1k.py'
renamed_to = 'configs/mocov2_r50_8xb32-coslr-200e_in1k.py'
