// 基础设置: the seed's 23 items (their numbers and names, 二、基础设置) and the other sections the
// settings API holds, each with the path of its value in GET/PUT /api/admin/settings and a help
// text. Labels only: ranges and rules are the API's (a refused value comes back naming its field).

export const ITEMS = [
  {no: 1, path: 'base.enabled', kind: 'bool', label: '开启排队返利', help: '开启后用户下单才会进行排队返利奖励'},
  {no: 2, path: 'base.new_products_enabled', kind: 'bool', label: '商品排队返利', help: '开启则添加新商品保存时默认开启排队返利功能（商城自营商品/供应商商品）'},
  {no: 3, kind: 'enable_all', label: '一键启用', help: '点击开启已存在商品的排队返利功能（商城自营商品/供应商商品）'},
  {no: 4, path: 'base.deduction', kind: 'choice', label: '抵扣订单开关', help: '参与队列：用户下单不管是否使用积分、爱心值抵扣都获得权益奖励；不参与队列：使用抵扣的订单不再获得排队权益，但仍按实际支付金额提取奖励给排队中的权益',
    choices: [['participate', '参与队列'], ['exclude', '不参与队列']]},
  {no: 5, path: 'base.settle_on', kind: 'choice', label: '结算事件', help: '可选支付后结算或者完成后结算',
    choices: [['paid', '支付后结算'], ['completed', '完成后结算']]},
  {no: 6, path: 'base.payout_order', kind: 'choice', label: '待奖励队列奖励规则', help: '按队列顺序：不管订单是否完成，按待奖励队列排队奖励；按队列完成+队列顺序：未完成时优先返现前面已完成的订单',
    choices: [['queue_order', '按队列顺序'], ['completed_first', '按队列完成+队列顺序']]},
  {no: 7, path: 'display.rebate_name', kind: 'text', label: '自定义名称', help: '自定义排队返利名称'},
  {no: 8, path: 'display.exchange_name', kind: 'text', label: '兑换自定义名称', help: '自定义兑换按钮名称'},
  {no: 9, path: 'base.extract_bp', kind: 'bp', label: '提取比例', help: '订单该商品最终支付金额按此比例奖励给该商品排队中的权益'},
  {no: 10, path: 'base.ratios.default_bp', kind: 'bp', label: '默认奖励权益', help: '订单该商品最终支付金额按此比例作为加入排队的总权益'},
  {no: 10, path: 'base.ratios.level_bp', kind: 'levels', label: '会员等级奖励权益', help: '根据会员所在的等级获得对应的奖励权益比例（等级 → 比例）；未设置的等级按其他规则'},
  {no: 10, path: 'base.ratios.tiers', kind: 'tiers', label: '累计金额奖励', help: '按指定天数内的消费金额确定总权益奖励比例，取满足条件的最高比例'},
  {no: 11, path: 'base.ratios.lottery', kind: 'lottery', label: '抽奖-奖励权益', help: '可选择固定比例或区间比例；排队期间（正式奖励前）用户可抽奖，抽中的比例替换原来默认的比例'},
  {no: 12, path: 'base.exchange_points_bp', kind: 'bp', label: '兑换比例（积分）', help: '用户将排队中的权益按此比例手动兑换为积分'},
  {no: 12, path: 'base.exchange_love_bp', kind: 'bp', label: '兑换比例（爱心值）', help: '用户将排队中的权益按此比例手动兑换为爱心值'},
  {no: 12, path: 'base.love_frozen', kind: 'bool', label: '兑换爱心值冻结', help: '开启：兑换所得爱心值先冻结；关闭：直接可用'},
  {no: 13, path: 'base.mall_queue_unified', kind: 'bool', label: '开启商家队列', help: '开启后平台自营+供应商商品统一队列排队；不开启则每一个商品单独队列排队'},
  {no: 14, path: 'base.stores_queue_unified', kind: 'bool', label: '所有门店队列', help: '开启：只要是开启排队返利的门店商品下单都可以奖励；关闭：奖励金额对应单个门店'},
  {no: 15, path: 'base.cashiers_queue_unified', kind: 'bool', label: '所有收银台队列', help: '开启：只要是开启排队返利的收银台下单都可以奖励；关闭：奖励金额对应单个门店收银台'},
  {no: 16, path: 'base.random_return', kind: 'random_return', label: '开启随机返', help: '每组人数 = 每组返现金人数 + 每组返积分人数；返积分的名额按兑换比例直接兑换为积分'},
  {no: 17, path: 'clearing', kind: 'clearing', label: '开启队列奖励清零', help: '按设置的每天/每周/每月/指定时间将所有奖励清零（北京时间）'},
  {no: 18, path: 'base.paused', kind: 'bool', label: '队列奖励暂停', help: '开启后商城、门店、收银台队列依旧排队但是不给奖励'},
  {no: 19, path: 'display.queue_progress', kind: 'bool', label: '队列进程', help: '开启后前端奖励队列列表显示队列ID、队列进程和进程按钮'},
  {no: 20, path: 'display.accumulated_reward', kind: 'bool', label: '累计奖励', help: '关闭后前端队列进程页面隐藏累计奖励'},
  {no: 21, path: 'display.pending_reward', kind: 'bool', label: '待奖励', help: '关闭后前端队列进程页面隐藏待奖励'},
  {no: 22, path: 'display.member_info', kind: 'bool', label: '会员信息', help: '关闭后前端队列进程页面隐藏头像、昵称'},
  {no: 23, path: 'display.pending_amount', kind: 'bool', label: '待奖励金额', help: '关闭后前端队列进程页面隐藏待奖励金额'},
];

export const GROUPS = [
  ['积分、爱心值抵扣', [
    {path: 'base.deduction_points_per_fen', kind: 'int', label: '积分抵扣比例', help: '多少积分抵 1 分（0：关闭）'},
    {path: 'base.deduction_love_per_fen', kind: 'int', label: '爱心值抵扣比例', help: '多少爱心值抵 1 分（0：关闭）'},
    {path: 'base.deduction_max_bp', kind: 'bp', label: '抵扣上限', help: '可抵扣的价格比例'},
    {path: 'base.deduction_min_cash_fen', kind: 'fen', label: '最低现金支付', help: '每笔订单至少支付的现金（元）'},
  ]],
  ['提现', [
    {path: 'withdrawal.enabled', kind: 'bool', label: '开启提现', help: '会员可将现金余额提现到微信零钱'},
    {path: 'withdrawal.min_fen', kind: 'fen', label: '最低提现金额', help: '单笔最少（元）'},
    {path: 'withdrawal.max_fen', kind: 'fen', label: '单笔提现上限', help: '单笔最多（元）'},
    {path: 'withdrawal.daily_cap_fen', kind: 'fen', label: '每日提现上限', help: '每人每日（北京时间）最多（元）'},
    {path: 'withdrawal.transfer_scene_id', kind: 'text', label: '转账场景 ID', help: '商家转账开通的场景'},
    {path: 'withdrawal.remark', kind: 'text', label: '转账备注', help: '会员在微信中看到的备注'},
  ]],
  ['积分转让', [
    {path: 'points_transfer.enabled', kind: 'bool', label: '开启积分转让', help: '默认关闭'},
    {path: 'points_transfer.min_points', kind: 'int', label: '单笔最少转让积分', help: ''},
    {path: 'points_transfer.max_points', kind: 'int', label: '单笔最多转让积分', help: ''},
    {path: 'points_transfer.daily_points', kind: 'int', label: '每日最多转让积分', help: '每人每日（北京时间）'},
    {path: 'points_transfer.keep_points', kind: 'int', label: '转让后至少保留积分', help: ''},
    {path: 'points_transfer.fee_bp', kind: 'bp', label: '手续费', help: '向下取整，由转出方另付'},
  ]],
  ['爱心值', [
    {path: 'love.release_enabled', kind: 'bool', label: '冻结爱心值自动释放', help: '到期后冻结的爱心值转为可用'},
    {path: 'love.release_days', kind: 'int', label: '冻结天数', help: '自入账起'},
  ]],
];

export const CLEARING_KINDS = [['daily', '每天'], ['weekly', '每周'], ['monthly', '每月'], ['once', '指定时间']];
export const WEEKDAYS = [[1, '周一'], [2, '周二'], [3, '周三'], [4, '周四'], [5, '周五'], [6, '周六'], [7, '周日']];
